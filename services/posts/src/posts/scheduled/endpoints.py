"""GET /api/v1/scheduled_statuses and GET/PUT/DELETE /api/v1/scheduled_statuses/:id (the caller's
own only: anyone else's answers 404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from microblog_common.db import SessionDep
from microblog_common.internal_auth import Identity, require_user
from microblog_common.openapi import EmptyObject
from microblog_common.pagination import Page, link_headers, page_params
from microblog_common.params import request_params
from posts.runtime import RuntimeDep
from posts.scheduled import service
from posts.statuses.entities import ScheduledStatusEntity

router = APIRouter(prefix="/api/v1/scheduled_statuses", tags=["scheduled statuses"])

Reader = Annotated[Identity, Depends(require_user("read", "read:statuses"))]
Writer = Annotated[Identity, Depends(require_user("write", "write:statuses"))]


def _me(identity: Identity) -> int:
    assert identity.user_id is not None
    return identity.user_id


@router.get("", response_model=list[ScheduledStatusEntity])
def index(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Reader,
    page: Annotated[Page, Depends(page_params)],
) -> JSONResponse:
    rows = service.page_of(session, _me(identity), page)
    return JSONResponse(
        [service.as_json(row) for row in rows],
        headers=link_headers(runtime.urls(request.url.path), page, [row.id for row in rows]),
    )


@router.get("/{scheduled_id}", response_model=ScheduledStatusEntity)
def show(scheduled_id: str, session: SessionDep, identity: Reader) -> JSONResponse:
    return JSONResponse(service.as_json(service.own(session, _me(identity), scheduled_id)))


@router.put("/{scheduled_id}", response_model=ScheduledStatusEntity)
def update(
    scheduled_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Writer,
    params: Annotated[dict[str, Any], Depends(request_params)],
) -> JSONResponse:
    when = params.get("scheduled_at")
    scheduled = service.reschedule(
        session, runtime, _me(identity), scheduled_id, str(when) if when not in (None, "") else None
    )
    return JSONResponse(service.as_json(scheduled))


@router.delete("/{scheduled_id}", response_model=EmptyObject)
def cancel(scheduled_id: str, session: SessionDep, identity: Writer) -> JSONResponse:
    service.cancel(session, _me(identity), scheduled_id)
    return JSONResponse({})
