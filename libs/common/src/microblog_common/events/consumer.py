"""The consuming side shared by every service: a registry of handlers by event type and the
inbox consumer that runs one handler per event inside the service's transaction.

The inbox row and the handler's changes commit together, so an event redelivered after a crash
(or published twice by the relay) has its effect once. The bus acks only after this returns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import anyio
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from microblog_common.db import Database
from microblog_common.events.envelope import Event
from microblog_common.events.tables import MessagingTables
from microblog_common.logging import bound

log = structlog.get_logger(__name__)

Handler = Callable[[Session, Event], None]


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
    def __init__(self, db: Database, tables: MessagingTables, handlers: EventHandlers):
        self.db = db
        self.inbox = tables.inbox
        self.handlers = handlers

    async def __call__(self, event: Event) -> None:
        with bound(correlation_id=event.correlation_id, event_id=str(event.id), event_type=event.type):
            handled = await anyio.to_thread.run_sync(self.handle_sync, event)
            log.info("event_handled" if handled else "event_duplicate_dropped")

    def handle_sync(self, event: Event) -> bool:
        """Returns False when the event was already handled (a duplicate)."""
        handler = self.handlers.get(event.type)
        with self.db.unit_of_work() as session:
            if not self._record(session, event):
                return False
            if handler is not None:
                handler(session, event)
        return True

    def _record(self, session: Session, event: Event) -> bool:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = (
            insert(self.inbox)
            .values(event_id=str(event.id), event_type=event.type, handled_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        return session.execute(stmt).rowcount == 1
