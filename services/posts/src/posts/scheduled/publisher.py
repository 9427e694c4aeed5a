"""Publishes scheduled statuses when they are due: exactly once, on time (it looks every
`SCHEDULED_POLL_INTERVAL_SECONDS`), with any number of replicas, across restarts.

Each due row is published in its own transaction that also deletes the row. The row is picked
with `FOR UPDATE SKIP LOCKED` (PostgreSQL), so replicas take different rows, and claimed by a
conditional delete: only the transaction whose DELETE removed the row goes on to publish (on
SQLite, where writers queue for one lock, the second finds nothing to delete). A crash before the
commit leaves the row in place, and the next run (or another replica) publishes it; after the
commit the row is gone. The status and its `post.published` event commit with the claim.

Both run in the event lane (`publish_scheduled` and `purge_idempotency_keys`, lane tasks): on the
lane's own connections and threads, in the API process or the worker."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.orm import Session

from microblog_common.db import Database
from microblog_common.lane import EventLane, periodic
from posts.runtime import Runtime
from posts.scheduled import repository
from posts.statuses import repository as statuses_repository
from posts.statuses.service import Draft, publish

log = structlog.get_logger(__name__)


async def publish_scheduled(lane: EventLane) -> None:
    """Lane task: publishes what is overdue at once (after a restart), then looks every
    `SCHEDULED_POLL_INTERVAL_SECONDS`."""
    runtime: Runtime = lane.runtime
    publisher = ScheduledPublisher(lane.db, runtime)
    while True:
        try:
            await lane.run_sync(publisher.publish_due)
        except Exception as exc:
            log.warning("scheduled_publisher_error", error=str(exc), error_type=type(exc).__name__)
        if not await lane.sleep(runtime.settings.scheduled_poll_interval_seconds):
            publisher.stop()
            return


def _purge_idempotency_keys(lane: EventLane, session: Session) -> int:
    ttl = timedelta(seconds=lane.runtime.settings.idempotency_seconds)
    return statuses_repository.purge_idempotency_keys(session, datetime.now(UTC) - ttl)


purge_idempotency_keys = periodic(
    "purge_idempotency_keys", lambda s: s.retention_interval_seconds, _purge_idempotency_keys
)


class ScheduledPublisher:
    def __init__(self, db: Database, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime
        self.batch_size = runtime.settings.scheduled_batch_size
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def publish_due(self) -> int:
        """Publishes every due status (a batch at a time); returns how many this call published."""
        published = 0
        while not self._stopping.is_set():
            due = self._due_ids()
            if not due:
                return published
            for scheduled_id in due:
                published += self._publish_one(scheduled_id)
            if len(due) < self.batch_size:
                return published
        return published

    def _due_ids(self) -> list[int]:
        with self.db.unit_of_work() as session:
            return repository.due_ids(session, datetime.now(UTC), self.batch_size)

    def _publish_one(self, scheduled_id: int) -> int:
        try:
            with self.db.unit_of_work() as session:
                scheduled = repository.claim(session, scheduled_id)
                if scheduled is None:  # published by another replica, or being published now
                    return 0
                author = statuses_repository.account(session, scheduled.account_id)
                if author is None:
                    log.warning(
                        "scheduled_status_dropped", scheduled_status_id=scheduled_id, reason="no account"
                    )
                    return 0
                status = publish(session, self.runtime, author, Draft.from_params(scheduled.params))
                log.info(
                    "scheduled_status_published",
                    scheduled_status_id=scheduled_id,
                    status_id=status.id,
                    late_ms=int((datetime.now(UTC) - scheduled.scheduled_at).total_seconds() * 1000),
                )
                return 1
        except Exception as exc:
            # Rolled back: the row stays and is tried again at the next run.
            log.warning(
                "scheduled_status_failed", scheduled_status_id=scheduled_id, error=str(exc),
                error_type=type(exc).__name__,
            )  # fmt: skip
            return 0
