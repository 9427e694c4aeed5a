"""Every statement over favourites: idempotent adding and taking back (the unique
`(status_id, account_id)` decides), the stored `favourites_count`, and who favourited a status,
paged by the favourite's id. Flushes, never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from microblog_common.pagination import Page
from microblog_common.sql import affected_rows, dialect_insert
from posts.models import Account, Favourite, Status
from posts.statuses.repository import in_page_order, paged


def add(session: Session, favourite_id: int, account_id: int, status_id: int, at: datetime) -> bool:
    """Whether it was added (False: the account had already favourited the status)."""
    inserted = session.execute(
        dialect_insert(session)(Favourite)
        .values(id=favourite_id, account_id=account_id, status_id=status_id, created_at=at)
        .on_conflict_do_nothing(index_elements=["status_id", "account_id"])
    )
    return affected_rows(inserted) == 1


def remove(session: Session, account_id: int, status_id: int) -> bool:
    """Whether there was one to take back."""
    removed = session.execute(
        delete(Favourite).where(Favourite.status_id == status_id, Favourite.account_id == account_id)
    )
    return affected_rows(removed) > 0


def change_count(session: Session, status_id: int, delta: int) -> None:
    session.execute(
        update(Status).where(Status.id == status_id).values(favourites_count=Status.favourites_count + delta)
    )


def favourited_by(session: Session, status_id: int, page: Page) -> list[tuple[int, Account]]:
    """(favourite id, account) of the status's favourites, newest first: the id is the cursor."""
    stmt = paged(
        select(Favourite.id, Account)
        .join(Account, Account.id == Favourite.account_id)
        .where(Favourite.status_id == status_id),
        Favourite.id,
        page,
    )
    return [(cursor, account) for cursor, account in in_page_order(session.execute(stmt).all(), page)]
