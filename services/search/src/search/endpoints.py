"""GET /api/v2/search and GET /api/v1/accounts/search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from microblog_common.db import SessionDep
from microblog_common.internal_auth import Identity, optional_token, require_user
from search import service
from search.runtime import RuntimeDep
from search.schemas import AccountSearchParams, SearchParams, account_search_params, search_params

router = APIRouter(tags=["search"])

Searcher = Annotated[Identity | None, Depends(optional_token("read", "read:search"))]
AccountsReader = Annotated[Identity, Depends(require_user("read", "read:accounts"))]


@router.get("/api/v2/search")
def search(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Searcher,
    params: Annotated[SearchParams, Depends(search_params)],
) -> dict[str, Any]:
    """Mastodon's Search entity: `accounts`, `statuses`, `hashtags`."""
    viewer = identity.user_id if identity is not None else None
    return service.search(session, runtime, params, viewer).as_json()


@router.get("/api/v1/accounts/search")
def account_search(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: AccountsReader,
    params: Annotated[AccountSearchParams, Depends(account_search_params)],
) -> list[dict[str, Any]]:
    assert identity.user_id is not None
    return service.account_search(session, runtime, params, identity.user_id)
