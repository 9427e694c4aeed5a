"""GET /api/v1/timelines/home, /public, /tag/:hashtag and GET /api/v1/accounts/:id/statuses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from microblog_common.db import ReadSessionDep
from microblog_common.internal_auth import Identity, optional_token, require_user
from microblog_common.pagination import Page, link_headers, page_params
from posts.runtime import Runtime, RuntimeDep
from posts.statuses.entities import StatusEntity
from posts.timelines import service
from posts.timelines.repository import TimelinePage

router = APIRouter(tags=["timelines"])

Reader = Annotated[Identity | None, Depends(optional_token("read", "read:statuses"))]
HomeReader = Annotated[Identity, Depends(require_user("read", "read:statuses"))]
StatusesPage = Annotated[Page, Depends(page_params)]
_TRUE = {"1", "true", "t", "yes", "on"}


def flag(value: str | None) -> bool:
    """Rails' boolean params: `true`, `1`, ... (Mastodon.py sends `1`/`0`)."""
    return value is not None and value.strip().lower() in _TRUE


Flag = Annotated[str | None, Query()]


@dataclass(frozen=True)
class Origin:
    remote: bool
    only_media: bool


async def origin_filters(local: Flag = None, remote: Flag = None, only_media: Flag = None) -> Origin:
    """The public and hashtag timelines' filters. `local` is accepted and changes nothing: every
    post here is local."""
    return Origin(remote=flag(remote), only_media=flag(only_media))


OriginFilters = Annotated[Origin, Depends(origin_filters)]


def _page(
    request: Request, runtime: Runtime, page: Page, viewer: int | None, result: TimelinePage
) -> Response:
    rows, cursors = result
    return Response(
        runtime.rendered.page(rows, viewer, runtime.urls),
        media_type="application/json",
        headers=link_headers(runtime.urls(request.url.path), page, cursors),
    )


def _viewer(identity: Identity | None) -> int | None:
    return identity.user_id if identity is not None else None


@router.get("/api/v1/timelines/home", response_model=list[StatusEntity])
def home(
    request: Request, session: ReadSessionDep, runtime: RuntimeDep, identity: HomeReader, page: StatusesPage
) -> Response:
    assert identity.user_id is not None
    return _page(request, runtime, page, identity.user_id, service.home(session, identity.user_id, page))


@router.get("/api/v1/timelines/public", response_model=list[StatusEntity])
def public(
    request: Request,
    session: ReadSessionDep,
    runtime: RuntimeDep,
    identity: Reader,
    page: StatusesPage,
    origin: OriginFilters,
) -> Response:
    viewer = _viewer(identity)
    result = service.public(session, viewer, page, remote=origin.remote, only_media=origin.only_media)
    return _page(request, runtime, page, viewer, result)


@router.get("/api/v1/timelines/tag/{hashtag}", response_model=list[StatusEntity])
def hashtag(
    hashtag: str,
    request: Request,
    session: ReadSessionDep,
    runtime: RuntimeDep,
    identity: Reader,
    page: StatusesPage,
    origin: OriginFilters,
) -> Response:
    viewer = _viewer(identity)
    result = service.hashtag(
        session, viewer, hashtag, page, remote=origin.remote, only_media=origin.only_media
    )
    return _page(request, runtime, page, viewer, result)


@router.get("/api/v1/accounts/{account_id}/statuses", response_model=list[StatusEntity])
def account_statuses(
    account_id: str,
    request: Request,
    session: ReadSessionDep,
    runtime: RuntimeDep,
    identity: Reader,
    page: StatusesPage,
    only_media: Flag = None,
    pinned: Flag = None,
    exclude_replies: Flag = None,
    exclude_reblogs: Flag = None,
    exclude_direct: Flag = None,
    tagged: str | None = Query(None),
) -> Response:
    viewer = _viewer(identity)
    result = service.account_statuses(
        session, viewer, account_id, page,
        exclude_replies=flag(exclude_replies), exclude_direct=flag(exclude_direct),
        tagged=tagged or None, only_media=flag(only_media), pinned=flag(pinned),
    )  # fmt: skip
    return _page(request, runtime, page, viewer, result)
