"""Every query on the markers (`markers`): the read position of each account's timelines. Flushes,
never commits."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microblog_common.sql import affected_rows, dialect_insert
from notify.models import Marker


def markers(session: Session, account_id: int, timelines: Collection[str]) -> list[Marker]:
    return list(
        session.scalars(select(Marker).where(Marker.account_id == account_id, Marker.timeline.in_(timelines)))
    )


def marker(session: Session, account_id: int, timeline: str) -> Marker | None:
    return session.get(Marker, (account_id, timeline))


def reloaded(session: Session, account_id: int, timeline: str) -> Marker | None:
    """The marker as the database has it now (what this session holds is read again)."""
    session.expire_all()
    return session.get(Marker, (account_id, timeline))


def insert_if_absent(
    session: Session, account_id: int, timeline: str, last_read_id: int, now: datetime
) -> bool:
    """A timeline's first marker (`version` 0); False when another request wrote one first (in a
    savepoint, so the transaction goes on either way)."""
    stmt = dialect_insert(session)(Marker).values(
        account_id=account_id, timeline=timeline, last_read_id=last_read_id, version=0, updated_at=now
    )
    try:
        with session.begin_nested():
            done = affected_rows(
                session.execute(stmt.on_conflict_do_nothing(index_elements=["account_id", "timeline"]))
            )
    except IntegrityError:
        return False
    return done == 1


def update_if_version(
    session: Session, account_id: int, timeline: str, version: int, last_read_id: int, now: datetime
) -> bool:
    """Optimistic, as Rails' lock_version: only while the marker is still at `version`; returns
    whether it was (an update that lost a race changes nothing)."""
    done = affected_rows(
        session.execute(
            update(Marker)
            .where(Marker.account_id == account_id, Marker.timeline == timeline, Marker.version == version)
            .values(last_read_id=last_read_id, version=version + 1, updated_at=now)
        )
    )
    return done == 1
