"""The "service defaults": one call that turns a service's spec into a FastAPI app with the shared
plumbing wired the same way everywhere (settings, logging, errors, internal trust, database, outbox
relay, inbox consumer, health, body limits, the OpenAPI document).

`create_app()` does no I/O; engines, broker connections and background tasks are built in the
lifespan and disposed of at shutdown (uvicorn runs it on SIGTERM/Ctrl-C)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import structlog
from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData

from microblog_common.db import Database
from microblog_common.errors import ServiceUnavailable, install_error_handlers
from microblog_common.events.bus import EventBus, RetryPolicy, Subscription
from microblog_common.events.consumer import EventHandlers, InboxConsumer
from microblog_common.events.outbox import OutboxRelay
from microblog_common.events.tables import MessagingTables
from microblog_common.events.topology import CONSUMED_EVENTS, consumed_by
from microblog_common.health import health_router
from microblog_common.internal_auth import InternalAuthMiddleware
from microblog_common.limits import BodyLimitMiddleware
from microblog_common.logging import configure_logging
from microblog_common.migrations import upgrade_to_head
from microblog_common.openapi import install_openapi
from microblog_common.request_context import RequestContextMiddleware
from microblog_common.settings import ServiceSettings

log = structlog.get_logger(__name__)

Hook = Callable[[FastAPI], Awaitable[None]]


@dataclass
class ServiceSpec:
    name: str
    metadata: MetaData
    messaging: MessagingTables
    migrations: Path
    routers: Sequence[APIRouter] = ()
    handlers: EventHandlers = field(default_factory=EventHandlers)
    version: str = "0.1.0"
    # Extra start-up/shutdown work of the service (e.g. a scheduler), run after the plumbing is up.
    on_startup: Sequence[Hook] = ()
    on_shutdown: Sequence[Hook] = ()


def build_bus(settings: ServiceSettings) -> EventBus:
    if settings.event_bus == "memory":
        from microblog_common.events.memory import MemoryBus

        return MemoryBus(topology=CONSUMED_EVENTS)
    from microblog_common.events.rabbitmq import RabbitBus

    assert settings.rabbitmq_url  # guaranteed by the settings validator
    return RabbitBus(
        settings.rabbitmq_url,
        exchange=settings.events_exchange,
        connection_name=settings.service_name,
        topology=CONSUMED_EVENTS,
    )


def create_service_app(
    spec: ServiceSpec, settings: ServiceSettings, *, bus: EventBus | None = None
) -> FastAPI:
    """`bus` is passed in when several services share one in-process bus (the embedded mode)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(level=settings.log_level, json=settings.log_json)
        db = Database(
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        if settings.migrate_on_start:
            await anyio.to_thread.run_sync(upgrade_to_head, spec.migrations, settings.database_url)
        owns_bus = bus is None
        event_bus = bus or build_bus(settings)
        if owns_bus:
            await event_bus.start()
        relay = OutboxRelay(
            db,
            spec.messaging.outbox,
            event_bus,
            poll_interval=settings.outbox_poll_interval_seconds,
            batch_size=settings.outbox_batch_size,
            lease_seconds=settings.outbox_lease_seconds,
        )
        app.state.settings = settings
        app.state.db = db
        app.state.bus = event_bus
        app.state.relay = relay
        relay.start()
        patterns = consumed_by(spec.name, spec.handlers.event_types)
        if patterns:
            await event_bus.subscribe(
                Subscription(
                    service=spec.name,
                    patterns=patterns,
                    handler=InboxConsumer(db, spec.messaging, spec.handlers),
                    retry=RetryPolicy(tuple(settings.consumer_retry_delays_seconds)),
                    prefetch=settings.consumer_prefetch,
                )
            )
        for hook in spec.on_startup:
            await hook(app)
        log.info("service_started", service=spec.name, event_bus=settings.event_bus)
        try:
            yield
        finally:
            for hook in spec.on_shutdown:
                await hook(app)
            await relay.stop()
            if owns_bus:
                await event_bus.close()
            db.dispose()
            log.info("service_stopped", service=spec.name)

    app = FastAPI(title=f"Microblog {spec.name} service", version=spec.version, lifespan=lifespan)
    install_error_handlers(app)

    async def check_database() -> None:
        await anyio.to_thread.run_sync(app.state.db.ping)

    async def check_broker() -> None:
        if not app.state.bus.is_healthy():
            raise ServiceUnavailable("event bus not connected")

    app.include_router(health_router({"database": check_database, "broker": check_broker}))
    for router in spec.routers:
        app.include_router(router)
    app.add_middleware(
        InternalAuthMiddleware,
        secret=settings.internal_secret.get_secret_value(),
        max_age=settings.internal_signature_max_age_seconds,
    )
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_body_bytes=settings.max_upload_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    app.add_middleware(RequestContextMiddleware, service=spec.name)
    install_openapi(app)
    return app
