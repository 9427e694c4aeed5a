"""GET /internal/export/statuses and /internal/export/favourites: every status (as the
`post.published`/`post.updated` snapshot, with its version) and every favourite, paged by id, for
a service rebuilding its copy (`microblog_common.contracts.export`). Not public."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from microblog_common.contracts.export import ExportCursor, ExportItem, ExportPage, export_cursor, page_of
from microblog_common.contracts.posts import ExportedFavourite, StatusSnapshot
from microblog_common.db import SessionDep
from microblog_common.internal_auth import require_internal_caller
from posts.export import repository
from posts.runtime import RuntimeDep
from posts.statuses.service import snapshot

router = APIRouter(
    prefix="/internal/export", tags=["internal"], dependencies=[Depends(require_internal_caller)]
)
Cursor = Annotated[ExportCursor, Depends(export_cursor)]


@router.get("/statuses")
def statuses(session: SessionDep, runtime: RuntimeDep, cursor: Cursor) -> ExportPage:
    rows = repository.statuses_after(session, cursor.after, cursor.limit)
    items = [
        ExportItem(
            version=status.version,
            data=StatusSnapshot(**snapshot(status, author, runtime)).model_dump(mode="json"),
        )
        for status, author in rows
    ]
    return page_of(items, [status.id for status, _ in rows], cursor.limit)


@router.get("/favourites")
def favourites(session: SessionDep, cursor: Cursor) -> ExportPage:
    rows = repository.favourites_after(session, cursor.after, cursor.limit)
    items = [
        ExportItem(
            version=1,  # favourites are not versioned
            data=ExportedFavourite(
                id=str(favourite.id),
                status_id=str(favourite.status_id),
                status_account_id=str(author),
                account_id=str(favourite.account_id),
                at=favourite.created_at,
            ).model_dump(mode="json"),
        )
        for favourite, author in rows
    ]
    return page_of(items, [favourite.id for favourite, _ in rows], cursor.limit)
