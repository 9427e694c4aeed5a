"""POST /api/v1/statuses: a status published now, or scheduled when `scheduled_at` is given, once
per `Idempotency-Key` (a retry within the hour answers with what the first request created)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from microblog_common.errors import Conflict, NotFound
from microblog_common.internal_auth import Identity
from posts.models import IdempotencyKey
from posts.runtime import Runtime
from posts.scheduled import service as scheduled
from posts.statuses import repository, service
from posts.statuses.schemas import StatusForm


def create(
    session: Session, runtime: Runtime, identity: Identity, form: StatusForm, idempotency_key: str | None
) -> dict[str, Any]:
    """The Status, or the ScheduledStatus, as JSON."""
    me = identity.user_id
    assert me is not None
    author = service.author_account(session, runtime, me, form)
    if idempotency_key:
        ttl = timedelta(seconds=runtime.settings.idempotency_seconds)
        earlier = repository.claim_idempotency_key(session, me, idempotency_key, ttl)
        if earlier is not None:
            return _earlier_result(session, runtime, me, earlier)
    draft = service.check_draft(session, runtime, author, form, identity.application_id)
    if form.scheduled_at is not None:
        planned = scheduled.schedule(session, runtime, me, draft, form.scheduled_at, idempotency_key)
        if idempotency_key:
            repository.record_idempotency_result(session, me, idempotency_key, scheduled_status_id=planned.id)
        return scheduled.as_json(planned)
    status = service.publish(session, runtime, author, draft)
    if idempotency_key:
        repository.record_idempotency_result(session, me, idempotency_key, status_id=status.id)
    return service.rendered(session, runtime, status.id, me)


def _earlier_result(session: Session, runtime: Runtime, me: int, earlier: IdempotencyKey) -> dict[str, Any]:
    if earlier.status_id is not None:
        return service.rendered(session, runtime, earlier.status_id, me)
    if earlier.scheduled_status_id is not None:
        planned = scheduled.find(session, earlier.scheduled_status_id)
        if planned is None:  # published or cancelled since
            raise NotFound()
        return scheduled.as_json(planned)
    raise Conflict("A request with this Idempotency-Key is still being processed")
