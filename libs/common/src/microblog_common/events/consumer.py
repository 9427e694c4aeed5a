"""The consuming side shared by every service: a registry of handlers by event type and the
inbox consumer that runs one handler per event inside the service's transaction.

The inbox row and the handler's changes commit together, so an event redelivered after a crash
(or published twice by the relay) has its effect once; an event older than what the service has
applied of its aggregate is dropped before its handler runs (`versions.py`). The bus acks only
after this returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum

import anyio
import structlog
from anyio import CapacityLimiter
from sqlalchemy.orm import Session

from microblog_common.contracts.aggregates import AGGREGATE_OF
from microblog_common.db import Database
from microblog_common.events.envelope import Event
from microblog_common.events.tables import MessagingTables
from microblog_common.events.versions import claim_version
from microblog_common.logging import bound
from microblog_common.metrics import EVENTS_CONSUMED
from microblog_common.sql import affected_rows, dialect_insert
from microblog_common.tracing import consumer_span

log = structlog.get_logger(__name__)

Handler = Callable[[Session, Event], None]


class Outcome(StrEnum):
    handled = "handled"
    duplicate = "duplicate"  # this event id was handled before
    stale = "stale"  # a newer version of its aggregate was applied before


class EventHandlers:
    """`handlers = EventHandlers()`, then `@handlers.on("user.registered")` on `def f(session, event)`."""

    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def on(self, event_type: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if event_type in self._by_type:
                raise ValueError(f"a handler for {event_type} is already registered")
            self._by_type[event_type] = fn
            return fn

        return register

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_type))

    def get(self, event_type: str) -> Handler | None:
        return self._by_type.get(event_type)


class InboxConsumer:
    """`aggregates` maps versioned event types to their aggregate (default: every contract's);
    `limiter` bounds the threads handlers run on (the event lane's own)."""

    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        handlers: EventHandlers,
        *,
        service: str = "",
        aggregates: Mapping[str, str] | None = None,
        limiter: CapacityLimiter | None = None,
    ):
        self.db = db
        self.inbox = tables.inbox
        self.versions = tables.applied_versions
        self.handlers = handlers
        self.service = service
        self.aggregates = AGGREGATE_OF if aggregates is None else aggregates
        self.limiter = limiter

    async def __call__(self, event: Event) -> None:
        with (
            bound(correlation_id=event.correlation_id, event_id=str(event.id), event_type=event.type),
            consumer_span(self.service, event),
        ):
            outcome = await anyio.to_thread.run_sync(self.handle_sync, event, limiter=self.limiter)
            EVENTS_CONSUMED.labels(self.service, event.type, outcome.value).inc()
            if outcome is Outcome.handled:
                log.info("event_handled")
            else:
                log.info(f"event_{outcome.value}_dropped", version=event.version)

    def handle_sync(self, event: Event) -> Outcome:
        handler = self.handlers.get(event.type)
        with self.db.unit_of_work() as session:
            if not self._record(session, event):
                return Outcome.duplicate
            aggregate = self.aggregates.get(event.type)
            if aggregate is not None and not claim_version(
                session, self.versions, aggregate, event.subject, event.version
            ):
                return Outcome.stale
            if handler is not None:
                handler(session, event)
        return Outcome.handled

    def _record(self, session: Session, event: Event) -> bool:
        insert = dialect_insert(session)
        stmt = (
            insert(self.inbox)
            .values(event_id=str(event.id), event_type=event.type, handled_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        return bool(affected_rows(session.execute(stmt)) == 1)
