"""Transactional outbox: events are rows written in the caller's transaction, and a relay
publishes them until the broker confirms.

The relay claims a batch by leasing it (`locked_until`) under `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so several replicas share the work without publishing the same row at the same time;
a relay that dies mid-batch leaves a lease that simply expires. A crash between the broker's
confirm and marking the row means it is published again: delivery is at least once and the
consumers' inbox drops the duplicate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import structlog
from anyio import CapacityLimiter
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from microblog_common.db import Database
from microblog_common.events.bus import EventBus
from microblog_common.events.envelope import Event
from microblog_common.logging import current_ids
from microblog_common.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from microblog_common.tracing import current_trace_context, publish_spans

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Writes events into the service's outbox table inside the current unit of work."""

    def __init__(self, table: Table, producer: str):
        self.table = table
        self.producer = producer

    def add(
        self, session: Session, type: str, *, subject: str | int, data: dict[str, Any], version: int = 1
    ) -> Event:
        request_id, correlation_id = current_ids()
        event = Event(
            type=type,
            version=version,
            producer=self.producer,
            subject=str(subject),
            correlation_id=correlation_id or request_id,
            trace_context=current_trace_context(),
            data=data,
        )
        session.execute(
            self.table.insert().values(
                id=str(event.id),
                type=event.type,
                subject=event.subject,
                payload=event.to_json(),
                created_at=event.occurred_at,
                attempts=0,
            )
        )
        session.info["outbox_written"] = True
        return event


class OutboxRelay:
    """`wake_on`: databases besides `db` whose commits write outbox rows (the API's request pool
    when the relay runs in the API process); a commit there wakes the relay at once. Without a
    commit to wake it (a relay in a worker process), it looks every `poll_interval`."""

    def __init__(
        self,
        db: Database,
        table: Table,
        bus: EventBus,
        *,
        service: str = "",
        poll_interval: float = 1.0,
        batch_size: int = 100,
        lease_seconds: float = 30.0,
        limiter: CapacityLimiter | None = None,
        wake_on: Sequence[Database] = (),
        backlog_every_seconds: float = 5.0,
    ):
        self.db = db
        self.table = table
        self.bus = bus
        self.service = service
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.limiter = limiter
        self.backlog_every_seconds = backlog_every_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._backlog_at = 0.0
        for database in (db, *wake_on):
            database.on_commit(self._on_commit)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop after the batch in hand; whatever is unpublished stays in the table for later."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                self._task.cancel()

    def _on_commit(self, session: Session) -> None:
        # Runs in whatever thread committed; wake the relay on its own loop.
        if session.info.pop("outbox_written", False) and self._loop is not None and not self._stopping:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # loop closed during shutdown
                pass

    async def _sync(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    # -- work ------------------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = self.poll_interval
        while not self._stopping:
            try:
                published = await self.publish_pending()
                backoff = self.poll_interval
                if published >= self.batch_size:
                    continue  # more waiting: keep going without sleeping
                await self._maybe_report_backlog()
            except Exception as exc:
                log.warning("outbox_relay_error", error=str(exc), error_type=type(exc).__name__)
                # Capped low: once the broker is back, waiting events should flow within seconds.
                backoff = min(backoff * 2, 5.0)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                pass

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were published."""
        rows = await self._sync(self._claim)
        if not rows:
            return 0
        events = [Event.from_json(payload) for _, payload in rows]
        ids = [row_id for row_id, _ in rows]
        try:
            with publish_spans(self.service, events):
                await self.bus.publish(events)
        except Exception as exc:
            await self._sync(self._release, ids, str(exc))
            raise
        await self._sync(self._mark_published, ids)
        for event in events:
            EVENTS_PUBLISHED.labels(self.service, event.type).inc()
        log.debug("outbox_published", count=len(ids))
        return len(ids)

    def _claim(self) -> list[tuple[str, str]]:
        t = self.table
        now = _now()
        with self.db.unit_of_work() as session:
            candidates = (
                select(t.c.id)
                .where(t.c.published_at.is_(None))
                .where((t.c.locked_until.is_(None)) | (t.c.locked_until < now))
                .order_by(t.c.created_at, t.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            )
            ids = list(session.scalars(candidates))
            if not ids:
                return []
            session.execute(
                update(t)
                .where(t.c.id.in_(ids))
                .values(locked_until=now + self.lease, attempts=t.c.attempts + 1)
            )
            rows = session.execute(select(t.c.id, t.c.payload).where(t.c.id.in_(ids))).all()
        order = {row_id: i for i, row_id in enumerate(ids)}
        return sorted(((r.id, r.payload) for r in rows), key=lambda r: order[r[0]])

    def _mark_published(self, ids: Sequence[str]) -> None:
        t = self.table
        with self.db.unit_of_work() as session:
            session.execute(update(t).where(t.c.id.in_(ids)).values(published_at=_now(), locked_until=None))

    def _release(self, ids: Sequence[str], error: str) -> None:
        t = self.table
        with self.db.unit_of_work() as session:
            session.execute(
                update(t).where(t.c.id.in_(ids)).values(locked_until=None, last_error=error[:2000])
            )

    async def _maybe_report_backlog(self) -> None:
        if time.monotonic() - self._backlog_at < self.backlog_every_seconds:
            return
        self._backlog_at = time.monotonic()
        count, oldest = await self._sync(self.backlog)
        OUTBOX_BACKLOG.labels(self.service).set(count)
        OUTBOX_OLDEST_AGE.labels(self.service).set(
            (_now() - oldest).total_seconds() if oldest is not None else 0.0
        )

    def backlog(self) -> tuple[int, datetime | None]:
        """Unpublished rows and the creation time of the oldest (index-only on PostgreSQL)."""
        t = self.table
        with self.db.unit_of_work() as session:
            row = session.execute(
                select(func.count(), func.min(t.c.created_at)).where(t.c.published_at.is_(None))
            ).one()
        oldest = row[1]
        if oldest is not None and oldest.tzinfo is None:  # SQLite hands back naive times
            oldest = oldest.replace(tzinfo=UTC)
        return int(row[0]), oldest

    def pending_count(self) -> int:
        return self.backlog()[0]
