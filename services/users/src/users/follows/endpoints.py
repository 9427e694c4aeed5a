"""POST /api/v1/accounts/:id/follow and /unfollow, GET /api/v1/accounts/:id/followers and
/following, GET /api/v1/accounts/relationships."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from microblog_common.db import SessionDep
from microblog_common.ids import parse_id
from microblog_common.internal_auth import Identity, optional_token, require_user
from microblog_common.pagination import Page, account_page_params, link_headers
from microblog_common.params import body, list_param, request_params
from users.accounts.schemas import AccountEntity
from users.follows import service
from users.follows.schemas import FollowForm, RelationshipEntity
from users.models import Account
from users.runtime import Runtime, RuntimeDep

router = APIRouter(prefix="/api/v1/accounts", tags=["follows"])

FollowScope = Annotated[Identity, Depends(require_user("follow", "write", "write:follows"))]


@router.get("/relationships", response_model=list[RelationshipEntity])
def relationships(
    session: SessionDep,
    identity: Annotated[Identity, Depends(require_user("read", "read:follows"))],
    params: Annotated[dict[str, Any], Depends(request_params)],
) -> list[RelationshipEntity]:
    assert identity.user_id is not None
    ids = list(dict.fromkeys(i for i in (parse_id(v) for v in list_param(params, "id")) if i is not None))
    return service.relationships_with(session, identity.user_id, ids[:80])


@router.post("/{account_id}/follow", response_model=RelationshipEntity)
def follow(
    account_id: str, session: SessionDep, identity: FollowScope, form: Annotated[FollowForm, body(FollowForm)]
) -> RelationshipEntity:
    assert identity.user_id is not None
    return service.follow(session, identity.user_id, account_id, form)


@router.post("/{account_id}/unfollow", response_model=RelationshipEntity)
def unfollow(account_id: str, session: SessionDep, identity: FollowScope) -> RelationshipEntity:
    assert identity.user_id is not None
    return service.unfollow(session, identity.user_id, account_id)


def _list_response(
    request: Request, response: Response, runtime: Runtime, page: Page, rows: list[tuple[int, Account]]
) -> list[AccountEntity]:
    urls = runtime.urls
    response.headers.update(link_headers(urls(request.url.path), page, [cursor for cursor, _ in rows]))
    return [AccountEntity.of(account, urls) for _, account in rows]


ListViewer = Annotated[Identity | None, Depends(optional_token("read", "read:accounts"))]
# Mastodon's account lists: 40 a page, at most 80.
AccountsPage = Annotated[Page, Depends(account_page_params)]


@router.get("/{account_id}/followers", response_model=list[AccountEntity])
def followers(
    account_id: str, request: Request, response: Response, session: SessionDep, runtime: RuntimeDep,
    viewer: ListViewer, page: AccountsPage,
) -> list[AccountEntity]:  # fmt: skip
    rows = service.followers(session, viewer.user_id if viewer else None, account_id, page)
    return _list_response(request, response, runtime, page, rows)


@router.get("/{account_id}/following", response_model=list[AccountEntity])
def following(
    account_id: str, request: Request, response: Response, session: SessionDep, runtime: RuntimeDep,
    viewer: ListViewer, page: AccountsPage,
) -> list[AccountEntity]:  # fmt: skip
    rows = service.following(session, viewer.user_id if viewer else None, account_id, page)
    return _list_response(request, response, runtime, page, rows)
