"""GET /api/v2/search and GET /api/v1/accounts/search."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Response

from microblog_common.db import ReadSessionDep
from microblog_common.internal_auth import Identity, optional_token, require_user
from search import service
from search.runtime import RuntimeDep
from search.schemas import AccountSearchParams, SearchParams, account_search_params, search_params

router = APIRouter(tags=["search"])

Searcher = Annotated[Identity | None, Depends(optional_token("read", "read:search"))]
AccountsReader = Annotated[Identity, Depends(require_user("read", "read:accounts"))]


def _json(body: Any) -> Response:
    # Serialised here, on the worker thread, with orjson: FastAPI's validation and serialisation
    # of a returned dict ran on the event loop and cost as much as the search.
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/api/v2/search", response_model=dict[str, Any])
def search(
    session: ReadSessionDep,
    runtime: RuntimeDep,
    identity: Searcher,
    params: Annotated[SearchParams, Depends(search_params)],
) -> Response:
    """Mastodon's Search entity: `accounts`, `statuses`, `hashtags`."""
    viewer = identity.user_id if identity is not None else None
    return _json(service.search(session, runtime, params, viewer).as_json())


@router.get("/api/v1/accounts/search", response_model=list[dict[str, Any]])
def account_search(
    session: ReadSessionDep,
    runtime: RuntimeDep,
    identity: AccountsReader,
    params: Annotated[AccountSearchParams, Depends(account_search_params)],
) -> Response:
    assert identity.user_id is not None
    return _json(service.account_search(session, runtime, params, identity.user_id))
