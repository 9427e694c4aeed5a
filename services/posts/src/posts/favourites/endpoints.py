"""POST /api/v1/statuses/:id/favourite and /unfavourite, GET /api/v1/statuses/:id/favourited_by."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from microblog_common.db import SessionDep
from microblog_common.internal_auth import Identity, optional_token, require_user
from microblog_common.mastodon.accounts import AccountEntity
from microblog_common.pagination import Page, account_page_params, link_headers
from posts.favourites import service
from posts.runtime import RuntimeDep
from posts.statuses.entities import StatusEntity
from posts.statuses.rendering import account_json, account_values
from posts.statuses.service import rendered

router = APIRouter(prefix="/api/v1/statuses", tags=["favourites"])

Favouriter = Annotated[Identity, Depends(require_user("write", "write:favourites"))]
AccountsReader = Annotated[Identity | None, Depends(optional_token("read", "read:accounts"))]
AccountsPage = Annotated[Page, Depends(account_page_params)]


@router.post("/{status_id}/favourite", response_model=StatusEntity)
def favourite(status_id: str, session: SessionDep, runtime: RuntimeDep, identity: Favouriter) -> JSONResponse:
    assert identity.user_id is not None
    found = service.favourite(session, runtime, identity.user_id, status_id)
    return JSONResponse(rendered(session, runtime, found, identity.user_id))


@router.post("/{status_id}/unfavourite", response_model=StatusEntity)
def unfavourite(
    status_id: str, session: SessionDep, runtime: RuntimeDep, identity: Favouriter
) -> JSONResponse:
    assert identity.user_id is not None
    found = service.unfavourite(session, identity.user_id, status_id)
    return JSONResponse(rendered(session, runtime, found, identity.user_id))


@router.get("/{status_id}/favourited_by", response_model=list[AccountEntity])
def favourited_by(
    status_id: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: AccountsReader,
    page: AccountsPage,
) -> JSONResponse:
    viewer = identity.user_id if identity is not None else None
    rows = service.favourited_by(session, status_id, viewer, page)
    return JSONResponse(
        [account_json(account_values(account), runtime.urls) for _, account in rows],
        headers=link_headers(runtime.urls(request.url.path), page, [cursor for cursor, _ in rows]),
    )
