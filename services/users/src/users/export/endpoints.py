"""GET /internal/export/accounts and /internal/export/follows: every account (as the `user.updated`
snapshot, with its version) and every follow (as `user.followed`, with the pair's version), paged
by id, for a service rebuilding its copy (`microblog_common.contracts.export`). Not public."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from microblog_common.contracts.export import ExportCursor, ExportItem, ExportPage, export_cursor, page_of
from microblog_common.contracts.users import AccountSnapshot, UserFollowed
from microblog_common.db import SessionDep
from microblog_common.internal_auth import require_internal_caller
from microblog_common.urls import PublicUrls
from users.events import account_snapshot
from users.export import repository
from users.runtime import RuntimeDep

router = APIRouter(prefix="/internal/export", tags=["internal"])
Cursor = Annotated[ExportCursor, Depends(export_cursor)]


@router.get("/accounts", dependencies=[Depends(require_internal_caller)])
def accounts(session: SessionDep, runtime: RuntimeDep, cursor: Cursor) -> ExportPage:
    urls = PublicUrls(runtime.settings.public_url)
    rows = repository.accounts_after(session, cursor.after, cursor.limit)
    items = [
        ExportItem(
            version=a.version, data=AccountSnapshot(**account_snapshot(a, urls)).model_dump(mode="json")
        )
        for a in rows
    ]
    return page_of(items, [a.id for a in rows], cursor.limit)


@router.get("/follows", dependencies=[Depends(require_internal_caller)])
def follows(session: SessionDep, cursor: Cursor) -> ExportPage:
    rows = repository.follows_after(session, cursor.after, cursor.limit)
    items = [
        ExportItem(
            version=version,
            data=UserFollowed(
                follower_id=str(f.account_id),
                followee_id=str(f.target_account_id),
                at=f.created_at,
                notify=f.notify,
                reblogs=f.show_reblogs,
                languages=f.languages,
            ).model_dump(mode="json"),
        )
        for f, version in rows
    ]
    return page_of(items, [f.id for f, _ in rows], cursor.limit)
