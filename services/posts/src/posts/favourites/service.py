"""Favourites: idempotent favourite/unfavourite of a status the caller may see, the stored
`favourites_count`, and who favourited a status (newest first, by favourite)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from microblog_common.contracts.posts import (
    POST_FAVOURITED,
    POST_UNFAVOURITED,
    PostFavourited,
    PostUnfavourited,
    StatusSnapshot,
)
from microblog_common.errors import NotFound
from microblog_common.ids import new_id, parse_id
from microblog_common.pagination import Page
from microblog_common.sql import dialect_insert
from posts import events
from posts.models import Account, Favourite, Status
from posts.runtime import Runtime
from posts.statuses import queries
from posts.statuses.service import snapshot


def _visible(session: Session, status_id: str, viewer_id: int | None) -> Any:
    row = queries.one(session, parse_id(status_id), viewer_id)
    if row is None:
        raise NotFound()
    return row


def favourite(session: Session, runtime: Runtime, viewer_id: int, status_id: str) -> int:
    row = _visible(session, status_id, viewer_id)
    now = datetime.now(UTC)
    favourite_id = new_id()
    inserted = session.execute(
        dialect_insert(session)(Favourite)
        .values(id=favourite_id, account_id=viewer_id, status_id=row.id, created_at=now)
        .on_conflict_do_nothing(index_elements=["status_id", "account_id"])
    )
    if inserted.rowcount == 1:
        session.execute(
            update(Status).where(Status.id == row.id).values(favourites_count=Status.favourites_count + 1)
        )
        status = session.get(Status, row.id)
        author = session.get(Account, row.account_id)
        assert status is not None and author is not None
        events.publish(
            session,
            POST_FAVOURITED,
            PostFavourited(
                id=str(favourite_id),
                status_id=str(row.id),
                status_account_id=str(row.account_id),
                account_id=str(viewer_id),
                at=now,
                status=StatusSnapshot(**snapshot(status, author, runtime)),
            ),
            subject=row.id,
            version=status.version,
        )
    return row.id


def unfavourite(session: Session, viewer_id: int, status_id: str) -> int:
    row = _visible(session, status_id, viewer_id)
    removed = session.execute(
        delete(Favourite).where(Favourite.status_id == row.id, Favourite.account_id == viewer_id)
    )
    if removed.rowcount:
        session.execute(
            update(Status).where(Status.id == row.id).values(favourites_count=Status.favourites_count - 1)
        )
        events.publish(
            session,
            POST_UNFAVOURITED,
            PostUnfavourited(
                status_id=str(row.id),
                status_account_id=str(row.account_id),
                account_id=str(viewer_id),
                at=datetime.now(UTC),
            ),
            subject=row.id,
        )
    return row.id


def favourited_by(
    session: Session, status_id: str, viewer_id: int | None, page: Page
) -> list[tuple[int, Account]]:
    row = _visible(session, status_id, viewer_id)
    stmt = queries.paged(
        select(Favourite.id, Account)
        .join(Account, Account.id == Favourite.account_id)
        .where(Favourite.status_id == row.id),
        Favourite.id,
        page,
    )
    return [(r[0], r[1]) for r in queries.in_page_order(list(session.execute(stmt).all()), page)]
