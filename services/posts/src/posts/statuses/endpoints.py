"""POST /api/v1/statuses, GET /api/v1/statuses (`id[]`), GET/PUT/DELETE /api/v1/statuses/:id,
GET /api/v1/statuses/:id/history, /source and /context."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from microblog_common.db import SessionDep
from microblog_common.ids import parse_id
from microblog_common.internal_auth import Identity, optional_token, require_user
from microblog_common.params import body, list_param, request_params
from posts.runtime import RuntimeDep
from posts.statuses import context as threads
from posts.statuses import posting, service
from posts.statuses.entities import (
    ContextEntity,
    ScheduledStatusEntity,
    StatusEditEntity,
    StatusEntity,
    StatusSourceEntity,
)
from posts.statuses.schemas import EditForm, StatusForm

router = APIRouter(tags=["statuses"])

Reader = Annotated[Identity | None, Depends(optional_token("read", "read:statuses"))]
Writer = Annotated[Identity, Depends(require_user("write", "write:statuses"))]
MAX_IDS = 40


def _viewer(identity: Identity | None) -> int | None:
    return identity.user_id if identity is not None else None


@router.post("/api/v1/statuses", response_model=StatusEntity | ScheduledStatusEntity)
def create(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Writer,
    form: Annotated[StatusForm, body(StatusForm)],
    # No NUL: the key is stored in a PostgreSQL text column.
    idempotency_key: Annotated[str | None, Header(max_length=255, pattern=r"^[^\x00]*$")] = None,
) -> JSONResponse:
    """A Status, or a ScheduledStatus when `scheduled_at` is given. A retry with the same
    `Idempotency-Key` within the hour answers with what the first request created."""
    return JSONResponse(posting.create(session, runtime, identity, form, idempotency_key))


@router.get("/api/v1/statuses", response_model=list[StatusEntity])
def show_many(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Reader,
    params: Annotated[dict[str, Any], Depends(request_params)],
) -> JSONResponse:
    ids = list(dict.fromkeys(i for i in (parse_id(v) for v in list_param(params, "id")) if i is not None))
    return JSONResponse(service.rendered_many(session, runtime, ids[:MAX_IDS], _viewer(identity)))


@router.get("/api/v1/statuses/{status_id}", response_model=StatusEntity)
def show(status_id: str, session: SessionDep, runtime: RuntimeDep, identity: Reader) -> JSONResponse:
    return JSONResponse(service.rendered(session, runtime, parse_id(status_id) or 0, _viewer(identity)))


@router.put("/api/v1/statuses/{status_id}", response_model=StatusEntity)
def update(
    status_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Writer,
    form: Annotated[EditForm, body(EditForm)],
) -> JSONResponse:
    assert identity.user_id is not None
    status = service.edit(session, runtime, identity.user_id, status_id, form)
    return JSONResponse(service.rendered(session, runtime, status.id, identity.user_id))


@router.delete("/api/v1/statuses/{status_id}", response_model=StatusEntity)
def destroy(status_id: str, session: SessionDep, runtime: RuntimeDep, identity: Writer) -> JSONResponse:
    assert identity.user_id is not None
    return JSONResponse(service.delete(session, runtime, identity.user_id, status_id))


@router.get("/api/v1/statuses/{status_id}/history", response_model=list[StatusEditEntity])
def history(status_id: str, session: SessionDep, runtime: RuntimeDep, identity: Reader) -> JSONResponse:
    return JSONResponse(service.history(session, runtime, status_id, _viewer(identity)))


@router.get("/api/v1/statuses/{status_id}/source", response_model=StatusSourceEntity)
def source(status_id: str, session: SessionDep, identity: Reader) -> JSONResponse:
    return JSONResponse(service.source(session, status_id, _viewer(identity)))


@router.get("/api/v1/statuses/{status_id}/context", response_model=ContextEntity)
def context(status_id: str, session: SessionDep, runtime: RuntimeDep, identity: Reader) -> JSONResponse:
    return JSONResponse(threads.context(session, runtime.urls, status_id, _viewer(identity)))
