"""POST /api/v1/accounts, GET /api/v1/accounts/verify_credentials, PATCH
/api/v1/accounts/update_credentials, GET /api/v1/accounts/lookup, GET /api/v1/accounts/:id, and the
default images at /avatars/*."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel

from microblog_common.contracts.users import AccountSnapshot
from microblog_common.db import ReadSessionDep, SessionDep, get_database
from microblog_common.errors import Forbidden, NotFound, Unauthorized
from microblog_common.ids import parse_id
from microblog_common.internal_auth import (
    Identity,
    identity_from_request,
    optional_token,
    require_token,
    require_user,
)
from microblog_common.openapi import image_responses
from microblog_common.params import body
from microblog_common.service import own_threads
from microblog_common.urls import MEDIA_PATH
from users import events
from users.accounts import service
from users.accounts.avatars import avatar_png, header_png
from users.accounts.schemas import (
    AccountEntity,
    CredentialAccountEntity,
    RegistrationForm,
    UpdateCredentialsForm,
)
from users.media.storage import CACHE_CONTROL, MEDIA_TYPES, LocalStorage
from users.oauth import service as oauth
from users.oauth.schemas import TokenEntity
from users.runtime import RuntimeDep
from users.tokens import service as tokens

router = APIRouter(tags=["accounts"])
images = APIRouter(tags=["accounts"])
# Service to service only (the gateway never routes /internal/*).
internal = APIRouter(tags=["internal"], include_in_schema=False)

# Threads reading snapshots for other services (`account_snapshot`), apart from the request threads.
SNAPSHOT_THREADS = 4

AccountReader = Annotated[Identity | None, Depends(optional_token("read", "read:accounts"))]


@router.post("/api/v1/accounts", response_model=TokenEntity)
def register(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Annotated[Identity, Depends(require_token("write", "write:accounts"))],
    form: Annotated[RegistrationForm, body(RegistrationForm)],
) -> JSONResponse:
    """Needs an app token (client_credentials), as on Mastodon; answers with the new user's Token."""
    app = oauth.application_for_client_id(session, identity.app_id)
    if app is None:
        raise Unauthorized("The access token is invalid")
    new = service.check_registration(session, form)
    account = service.register(session, runtime, new)
    issued = tokens.issue(
        session, runtime, application_id=app.id, client_id=app.client_id, account_id=account.id,
        scopes=app.scopes, with_refresh=True,
    )  # fmt: skip
    return JSONResponse(issued.response(), headers={"Cache-Control": "no-store"})


@router.get("/api/v1/accounts/verify_credentials", response_model=CredentialAccountEntity)
def verify_credentials(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Annotated[Identity, Depends(require_user("profile", "read", "read:accounts"))],
) -> CredentialAccountEntity:
    account = service.get_account(session, identity.user_id)
    return CredentialAccountEntity.of(account, runtime.urls)


@router.patch("/api/v1/accounts/update_credentials", response_model=CredentialAccountEntity)
def update_credentials(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Annotated[Identity, Depends(require_user("write", "write:accounts"))],
    form: Annotated[UpdateCredentialsForm, body(UpdateCredentialsForm)],
) -> CredentialAccountEntity:
    # Only ever the caller's own account: no parameter names another one.
    account = service.get_account(session, identity.user_id)
    account = service.update_credentials(session, runtime, account, form)
    return CredentialAccountEntity.of(account, runtime.urls)


@router.delete("/api/v1/profile/avatar", response_model=CredentialAccountEntity)
def delete_avatar(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Annotated[Identity, Depends(require_user("write", "write:accounts"))],
) -> CredentialAccountEntity:
    account = service.remove_picture(
        session, runtime, service.get_account(session, identity.user_id), "avatar"
    )
    return CredentialAccountEntity.of(account, runtime.urls)


@router.delete("/api/v1/profile/header", response_model=CredentialAccountEntity)
def delete_header(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Annotated[Identity, Depends(require_user("write", "write:accounts"))],
) -> CredentialAccountEntity:
    account = service.remove_picture(
        session, runtime, service.get_account(session, identity.user_id), "header"
    )
    return CredentialAccountEntity.of(account, runtime.urls)


@router.get("/api/v1/accounts/lookup", response_model=AccountEntity)
def lookup(
    session: SessionDep, runtime: RuntimeDep, _: AccountReader, acct: str = Query("")
) -> AccountEntity:
    urls = runtime.urls
    return AccountEntity.of(service.lookup(session, urls, acct), urls)


@router.get("/api/v1/accounts/{account_id}", response_model=AccountEntity)
def show(account_id: str, session: ReadSessionDep, runtime: RuntimeDep, _: AccountReader) -> Response:
    account = service.get_account(session, parse_id(account_id))
    # Serialised here, once: a returned model would be validated again against `response_model`.
    return Response(AccountEntity.of(account, runtime.urls).model_dump_json(), media_type="application/json")


@internal.get("/internal/accounts/{account_id}", response_model=AccountSnapshot)
async def account_snapshot(account_id: str, request: Request, runtime: RuntimeDep) -> Response:
    """The account as `user.updated` carries it, now: for services that must not act on a replica
    that may lag (posts applying posting defaults). Never routed publicly, and never on behalf of a
    client's token.

    Read on threads of its own: posts asks from one of its request threads, and in the embedded
    mode those are this process's too. Were this a sync route, posts' requests holding every
    request thread while they wait for this answer would leave none to give it."""
    if identity_from_request(request) is not None:
        raise Forbidden("This endpoint is for the services only")
    wanted = parse_id(account_id)
    db = get_database(request)

    def read() -> bytes:
        with db.read_only() as session:
            snapshot = events.account_snapshot(service.get_account(session, wanted), runtime.urls)
        return AccountSnapshot(**snapshot).model_dump_json().encode()

    limiter = own_threads(request.app, "account_snapshot", SNAPSHOT_THREADS)
    body = await anyio.to_thread.run_sync(read, limiter=limiter)
    return Response(body, media_type="application/json")


@images.get(
    MEDIA_PATH + "/{key:path}",
    response_class=Response,
    responses=image_responses("image/png", "image/jpeg", "image/gif", "image/webp"),
)
def uploaded_picture(key: str, runtime: RuntimeDep) -> Response:
    """Uploaded avatars and headers, when they are stored in the local folder. Their names are
    their content's hash: cached for a year, never revalidated."""
    storage = runtime.media
    path = storage.path(key) if isinstance(storage, LocalStorage) else None
    if path is None:
        raise NotFound()
    return FileResponse(
        path, media_type=MEDIA_TYPES[path.suffix.lstrip(".")], headers={"Cache-Control": CACHE_CONTROL}
    )


class InstanceStats(BaseModel):
    user_count: int
    status_count: int
    # Accounts that posted in the last 30 days (Mastodon counts sign-ins; this service knows posts).
    active_month: int


@router.get("/internal/stats", response_model=InstanceStats, include_in_schema=False)
def instance_stats(request: Request, session: SessionDep) -> InstanceStats:
    """For the gateway's instance entities."""
    if identity_from_request(request) is not None:
        raise Forbidden("This endpoint is for the gateway only")
    users, statuses, active = service.instance_stats(session)
    return InstanceStats(user_count=users, status_count=statuses, active_month=active)


IMAGE_CACHE = {"Cache-Control": "public, max-age=86400"}


@images.get("/avatars/header.png", response_class=Response, responses=image_responses("image/png"))
def default_header() -> Response:
    return Response(header_png(), media_type="image/png", headers=IMAGE_CACHE)


@images.get("/avatars/{name}.png", response_class=Response, responses=image_responses("image/png"))
def default_avatar(name: str) -> Response:
    """Drawn from the id alone (no database read): the same picture every time."""
    account_id = parse_id(name)
    if account_id is None:
        raise NotFound()
    return Response(avatar_png(account_id), media_type="image/png", headers=IMAGE_CACHE)
