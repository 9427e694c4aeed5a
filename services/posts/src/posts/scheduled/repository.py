"""Every statement over scheduled statuses: an account's pending ones (paged, counted for the
limits), and the publisher's claim on a due row. Flushes, never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from microblog_common.pagination import Page
from microblog_common.sql import affected_rows
from posts.models import ScheduledStatus
from posts.statuses.repository import in_page_order, paged


def add(session: Session, scheduled: ScheduledStatus) -> None:
    session.add(scheduled)
    session.flush()


def by_id(session: Session, scheduled_id: int) -> ScheduledStatus | None:
    return session.get(ScheduledStatus, scheduled_id)


def own(
    session: Session, account_id: int, scheduled_id: int | None, *, for_update: bool = False
) -> ScheduledStatus | None:
    if scheduled_id is None:
        return None
    stmt = select(ScheduledStatus).where(
        ScheduledStatus.id == scheduled_id, ScheduledStatus.account_id == account_id
    )
    return session.scalar(stmt.with_for_update() if for_update else stmt)


def page_of(session: Session, account_id: int, page: Page) -> list[ScheduledStatus]:
    stmt = paged(
        select(ScheduledStatus).where(ScheduledStatus.account_id == account_id), ScheduledStatus.id, page
    )
    return in_page_order(list(session.scalars(stmt)), page)


def pending_count(
    session: Session,
    account_id: int,
    *,
    from_: datetime | None = None,
    until: datetime | None = None,
    excluding: int | None = None,
) -> int:
    """How many the account has pending, those due in [`from_`, `until`) if given, leaving out
    `excluding` (the one being moved)."""
    stmt = select(func.count()).select_from(ScheduledStatus).where(ScheduledStatus.account_id == account_id)
    if excluding is not None:
        stmt = stmt.where(ScheduledStatus.id != excluding)
    if from_ is not None:
        stmt = stmt.where(ScheduledStatus.scheduled_at >= from_)
    if until is not None:
        stmt = stmt.where(ScheduledStatus.scheduled_at < until)
    return session.scalar(stmt) or 0


def remove(session: Session, scheduled_id: int) -> None:
    session.execute(delete(ScheduledStatus).where(ScheduledStatus.id == scheduled_id))


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """The longest overdue first."""
    return list(
        session.scalars(
            select(ScheduledStatus.id)
            .where(ScheduledStatus.scheduled_at <= now)
            .order_by(ScheduledStatus.scheduled_at, ScheduledStatus.id)
            .limit(limit)
        )
    )


def claim(session: Session, scheduled_id: int) -> ScheduledStatus | None:
    """The row, taken for this transaction to publish, or None when another has it. Picked with
    `FOR UPDATE SKIP LOCKED` (PostgreSQL: a row being published elsewhere is skipped, not waited
    for) and claimed by deleting it: only the transaction whose DELETE removed the row goes on (on
    SQLite, where writers queue for one lock, the second finds nothing to delete)."""
    scheduled = session.scalar(
        select(ScheduledStatus).where(ScheduledStatus.id == scheduled_id).with_for_update(skip_locked=True)
    )
    if scheduled is None:  # published by another replica, or being published now
        return None
    claimed = session.execute(delete(ScheduledStatus).where(ScheduledStatus.id == scheduled_id))
    return scheduled if affected_rows(claimed) == 1 else None
