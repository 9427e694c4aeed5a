"""SQL both backends (PostgreSQL and SQLite) need spelled per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def dialect_insert(session: Session) -> Any:
    """`insert` with `on_conflict_do_nothing`/`on_conflict_do_update` (and `RETURNING`) for the
    session's database: both dialects spell upserts alike, from their own construct."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
