"""Statement helpers every service needs: SQL both backends (PostgreSQL and SQLite) spell per
dialect, and what a statement tells back."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def dialect_insert(session: Session) -> Any:
    """`insert` with `on_conflict_do_nothing`/`on_conflict_do_update` (and `RETURNING`) for the
    session's database: both dialects spell upserts alike, from their own construct."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def affected_rows(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE changed. (SQLAlchemy types `Session.execute` as
    returning a `Result`; for those statements it is a `CursorResult`, which counts them.)"""
    return int(cast("CursorResult[Any]", result).rowcount)
