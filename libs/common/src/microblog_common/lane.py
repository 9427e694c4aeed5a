"""The event lane: a service's event work (the outbox relay, the inbox consumer, and the service's
own lane tasks: due-time publishers, senders, retention clean-up) with its own database pool and
its own thread limiter, so requests can never take its threads or connections, nor it theirs.

It runs inside the API process (the default, and always in the embedded mode) or alone in a
`worker` process of the same package (`python -m <service>.worker`, see `worker.py`) when
`EVENT_WORKERS_IN_PROCESS=false` hands it over.

A lane task is `async def task(lane: EventLane) -> None`: it runs until the lane stops (it should
return when `lane.stopping` is set, or it is cancelled after a grace period). Blocking work goes
through `lane.run_sync`, which uses the lane's threads. `periodic()` builds the common kind: a
synchronous job run every so often in its own transaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import anyio
import structlog
from sqlalchemy import delete
from sqlalchemy.orm import Session

from microblog_common.db import Database
from microblog_common.events.bus import EventBus, RetryPolicy, Subscription
from microblog_common.events.consumer import InboxConsumer
from microblog_common.events.outbox import OutboxRelay
from microblog_common.events.topology import consumed_by
from microblog_common.metrics import POOLS
from microblog_common.sql import affected_rows

if TYPE_CHECKING:
    from microblog_common.service import ServiceSpec
    from microblog_common.settings import ServiceSettings

log = structlog.get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

LaneTask = Callable[["EventLane"], Awaitable[None]]
# How long a stopping lane waits for its tasks to return before cancelling them.
STOP_GRACE_SECONDS = 10.0


class EventLane:
    def __init__(
        self,
        spec: ServiceSpec,
        settings: ServiceSettings,
        bus: EventBus,
        *,
        runtime: Any = None,
        wake_on: Sequence[Database] = (),
    ):
        """`wake_on`: other databases whose commits write outbox rows (the API's request pool,
        when the lane runs in the API process), so the relay publishes at once."""
        self.spec = spec
        self.settings = settings
        self.bus = bus
        self.runtime = runtime
        self.db = Database(
            settings.database_url,
            pool_size=settings.lane_db_pool_size,
            max_overflow=settings.lane_db_max_overflow,
            pool_recycle=settings.db_pool_recycle_seconds,
        )
        self.limiter = anyio.CapacityLimiter(settings.lane_threads)
        self.stopping = asyncio.Event()
        self.relay = OutboxRelay(
            self.db,
            spec.messaging.outbox,
            bus,
            service=spec.name,
            poll_interval=settings.outbox_poll_interval_seconds,
            batch_size=settings.outbox_batch_size,
            lease_seconds=settings.outbox_lease_seconds,
            limiter=self.limiter,
            wake_on=wake_on,
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def run_sync(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking work on the lane's own threads."""
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs), limiter=self.limiter)

    async def sleep(self, seconds: float) -> bool:
        """Wait `seconds` unless the lane stops first; returns whether it is still running."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        return not self.stopping.is_set()

    async def start(self) -> None:
        POOLS.register(self.spec.name, "events", self.db.engine)
        self.relay.start()
        patterns = consumed_by(self.spec.name, self.spec.handlers.event_types)
        if patterns:
            await self.bus.subscribe(
                Subscription(
                    service=self.spec.name,
                    patterns=patterns,
                    handler=InboxConsumer(
                        self.db,
                        self.spec.messaging,
                        self.spec.handlers,
                        service=self.spec.name,
                        limiter=self.limiter,
                    ),
                    retry=RetryPolicy(tuple(self.settings.consumer_retry_delays_seconds)),
                    prefetch=self.settings.consumer_prefetch,
                )
            )
        for task in (*retention_tasks(self.spec, self.settings), *self.spec.lane_tasks):
            self._tasks.append(asyncio.create_task(self._guard(task), name=getattr(task, "__name__", "lane")))
        log.info("event_lane_started", service=self.spec.name, tasks=len(self._tasks))

    async def stop(self) -> None:
        """Tasks finish what they hold (or are cancelled after a grace period); the relay stops
        after its batch in hand; what is unpublished stays in the outbox for the next start."""
        self.stopping.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.relay.stop()
        POOLS.unregister(self.spec.name, "events")
        self.db.dispose()
        log.info("event_lane_stopped", service=self.spec.name)

    async def _guard(self, task: LaneTask) -> None:
        """A lane task that fails is logged and started again (after a pause), never lost."""
        name = getattr(task, "__name__", repr(task))
        while not self.stopping.is_set():
            try:
                await task(self)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("lane_task_failed", task=name, error=str(exc), error_type=type(exc).__name__)
                await self.sleep(5.0)


def periodic(
    name: str, every: Callable[[ServiceSettings], float], job: Callable[[EventLane, Session], int | None]
) -> LaneTask:
    """A lane task running `job(lane, session)` every `every(settings)` seconds, each run in its
    own transaction on the lane's pool and threads. A run that fails is logged and tried again
    next time."""

    async def run(lane: EventLane) -> None:
        interval = every(lane.settings)
        while await lane.sleep(interval):
            try:
                done = await lane.run_sync(_in_transaction, lane, job)
            except Exception as exc:
                log.warning("periodic_job_failed", job=name, error=str(exc), error_type=type(exc).__name__)
                continue
            if done:
                log.info("periodic_job_done", job=name, rows=done)

    run.__name__ = name
    return run


def _in_transaction(lane: EventLane, job: Callable[[EventLane, Session], int | None]) -> int | None:
    with lane.db.unit_of_work() as session:
        return job(lane, session)


def _older_than(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def retention_tasks(spec: ServiceSpec, settings: ServiceSettings) -> tuple[LaneTask, ...]:
    """What every service prunes: inbox rows (duplicates older than this are no longer expected)
    and published outbox rows."""
    inbox, outbox = spec.messaging.inbox, spec.messaging.outbox

    def prune_inbox(lane: EventLane, session: Session) -> int:
        cutoff = _older_than(lane.settings.inbox_retention_days)
        return int(affected_rows(session.execute(delete(inbox).where(inbox.c.handled_at < cutoff))))

    def prune_outbox(lane: EventLane, session: Session) -> int:
        cutoff = _older_than(lane.settings.outbox_retention_days)
        return int(affected_rows(session.execute(delete(outbox).where(outbox.c.published_at < cutoff))))

    every = lambda s: s.retention_interval_seconds  # noqa: E731
    return (periodic("prune_inbox", every, prune_inbox), periodic("prune_outbox", every, prune_outbox))
