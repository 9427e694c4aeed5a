"""POST /api/v1/statuses, GET /api/v1/statuses (`id[]`), GET/PUT/DELETE /api/v1/statuses/:id,
GET /api/v1/statuses/:id/history, /source and /context."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from microblog_common.db import SessionDep
from microblog_common.errors import Conflict, NotFound
from microblog_common.ids import parse_id
from microblog_common.internal_auth import Identity, optional_token, require_user
from microblog_common.params import body, list_param, request_params
from posts.models import ScheduledStatus
from posts.runtime import RuntimeDep
from posts.scheduled import service as scheduled
from posts.statuses import context as threads
from posts.statuses import queries, repository, service
from posts.statuses.entities import (
    ContextEntity,
    ScheduledStatusEntity,
    StatusEditEntity,
    StatusEntity,
    StatusSourceEntity,
)
from posts.statuses.queries import as_account
from posts.statuses.rendering import account_json, edit_json, status_json
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
    me = identity.user_id
    assert me is not None
    author = service.author_account(session, runtime, me, form)
    if idempotency_key:
        ttl = timedelta(seconds=runtime.settings.idempotency_seconds)
        earlier = repository.claim_idempotency_key(session, me, idempotency_key, ttl)
        if earlier is not None:
            return JSONResponse(_earlier_result(session, runtime, me, earlier))
    draft = service.check_draft(session, runtime, author, form, identity.application_id)
    if form.scheduled_at is not None:
        planned = scheduled.schedule(session, runtime, me, draft, form.scheduled_at, idempotency_key)
        if idempotency_key:
            repository.record_idempotency_result(session, me, idempotency_key, scheduled_status_id=planned.id)
        return JSONResponse(scheduled.as_json(planned))
    status = service.publish(session, runtime, author, draft)
    if idempotency_key:
        repository.record_idempotency_result(session, me, idempotency_key, status_id=status.id)
    return JSONResponse(service.rendered(session, runtime, status.id, me))


def _earlier_result(session, runtime, me: int, earlier) -> dict[str, Any]:
    if earlier.status_id is not None:
        return service.rendered(session, runtime, earlier.status_id, me)
    if earlier.scheduled_status_id is not None:
        planned = session.get(ScheduledStatus, earlier.scheduled_status_id)
        if planned is None:  # published or cancelled since
            raise NotFound()
        return scheduled.as_json(planned)
    raise Conflict("A request with this Idempotency-Key is still being processed")


@router.get("/api/v1/statuses", response_model=list[StatusEntity])
def show_many(
    session: SessionDep,
    runtime: RuntimeDep,
    identity: Reader,
    params: Annotated[dict[str, Any], Depends(request_params)],
) -> JSONResponse:
    ids = list(dict.fromkeys(i for i in (parse_id(v) for v in list_param(params, "id")) if i is not None))
    viewer = _viewer(identity)
    rows = {r.id: r for r in queries.by_ids(session, ids[:MAX_IDS], viewer)}
    return JSONResponse([status_json(rows[i], viewer, runtime.urls) for i in ids if i in rows])


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
    viewer = _viewer(identity)
    row = queries.one(session, parse_id(status_id), viewer)
    if row is None:
        raise NotFound()
    author = account_json(as_account(row), runtime.urls)
    revisions = repository.edits(session, row.id) or [row]
    return JSONResponse([edit_json(revision, author) for revision in revisions])


@router.get("/api/v1/statuses/{status_id}/source", response_model=StatusSourceEntity)
def source(status_id: str, session: SessionDep, identity: Reader) -> JSONResponse:
    return JSONResponse(service.source(session, status_id, _viewer(identity)))


@router.get("/api/v1/statuses/{status_id}/context", response_model=ContextEntity)
def context(status_id: str, session: SessionDep, runtime: RuntimeDep, identity: Reader) -> JSONResponse:
    return JSONResponse(threads.context(session, runtime.urls, status_id, _viewer(identity)))
