"""The export's queries: one page, in id order, in one statement each."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from posts.models import Account, Favourite, Status


def statuses_after(session: Session, after: int, limit: int) -> list[tuple[Status, Account]]:
    rows = session.execute(
        select(Status, Account)
        .join(Account, Account.id == Status.account_id)
        .where(Status.id > after)
        .order_by(Status.id)
        .limit(limit)
    )
    return [(status, account) for status, account in rows]


def favourites_after(session: Session, after: int, limit: int) -> list[tuple[Favourite, int]]:
    rows = session.execute(
        select(Favourite, Status.account_id)
        .join(Status, Status.id == Favourite.status_id)
        .where(Favourite.id > after)
        .order_by(Favourite.id)
        .limit(limit)
    )
    return [(favourite, author) for favourite, author in rows]
