"""A tiny consuming service for the reliability tests: its handler of `thing.happened` writes one
`effects` row per handling, with no uniqueness of its own, so "exactly once" is visible as one
row per event. Every attempt is also recorded, outside the handler's transaction, in `attempts`.

An event whose data says `"fail": true` makes the handler raise every time. HANDLER_SLEEP_SECONDS
slows each handling down, so that a crash lands with messages in flight."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, create_engine, func
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from microblog_common.events import Event, EventHandlers, MessagingTables
from microblog_common.service import ServiceSpec, create_service_app
from microblog_common.settings import ServiceSettings

metadata = MetaData()
messaging = MessagingTables(metadata)
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("n", Integer, nullable=False),
    Column("correlation_id", String(128)),
    Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
handlers = EventHandlers()
HANDLER_SLEEP = float(os.environ.get("HANDLER_SLEEP_SECONDS", "0"))
# Attempts are written on connections of their own, outside the service's pool: a handler
# holding a pooled connection while waiting for a second one could starve the pool.
_attempts_engine: Engine | None = None


class HandlerFailure(RuntimeError):
    pass


class Settings(ServiceSettings):
    service_name: str = "consumer"


@handlers.on("thing.happened")
def on_thing_happened(session: Session, event: Event) -> None:
    # Its own transaction: the record survives the handler's rollback.
    assert _attempts_engine is not None
    with _attempts_engine.begin() as conn:
        conn.execute(attempts.insert().values(event_id=str(event.id)))
    if HANDLER_SLEEP:
        time.sleep(HANDLER_SLEEP)
    if event.data.get("fail"):
        raise HandlerFailure(f"told to fail on event {event.data.get('n')}")
    session.execute(
        effects.insert().values(
            event_id=str(event.id), n=event.data["n"], correlation_id=event.correlation_id
        )
    )


SPEC = ServiceSpec(
    name="consumer", metadata=metadata, messaging=messaging, migrations=Path(), handlers=handlers
)


def create_app() -> FastAPI:
    global _attempts_engine
    settings = Settings()
    _attempts_engine = create_engine(settings.database_url, poolclass=NullPool)
    metadata.create_all(_attempts_engine)
    return create_service_app(SPEC, settings)
