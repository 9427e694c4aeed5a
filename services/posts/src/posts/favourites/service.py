"""Favourites: idempotent favourite/unfavourite of a status the caller may see, the stored
`favourites_count`, and who favourited a status (newest first, by favourite)."""

from __future__ import annotations

from datetime import UTC, datetime

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
from posts import events
from posts.favourites import repository
from posts.models import Account
from posts.runtime import Runtime
from posts.statuses import repository as statuses
from posts.statuses.repository import StatusRow
from posts.statuses.service import known_account, snapshot


def _visible(session: Session, status_id: str, viewer_id: int | None) -> StatusRow:
    row = statuses.visible_status(session, parse_id(status_id), viewer_id)
    if row is None:
        raise NotFound()
    return row


def favourite(session: Session, runtime: Runtime, viewer_id: int, status_id: str) -> int:
    known_account(session, runtime, viewer_id)  # so `favourited_by` lists the favouriter at once
    row = _visible(session, status_id, viewer_id)
    # Locked before the favourite is added: its author may be deleting it right now (the delete
    # locks it too), and a favourite must not outlive its status or name one that is gone.
    status = statuses.status_for_update(session, row.id)
    if status is None:
        raise NotFound()
    now = datetime.now(UTC)
    favourite_id = new_id()
    if repository.add(session, favourite_id, viewer_id, row.id, now):
        repository.change_count(session, row.id, +1)
        session.refresh(status)  # the count just changed in SQL
        author = statuses.account(session, row.account_id)
        assert author is not None  # a status's author is in the replica before the status
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
    if repository.remove(session, viewer_id, row.id):
        repository.change_count(session, row.id, -1)
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
    return repository.favourited_by(session, _visible(session, status_id, viewer_id).id, page)
