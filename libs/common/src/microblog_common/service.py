"""The "service defaults": one call that turns a service's spec into a FastAPI app with the shared
plumbing wired the same way everywhere (settings, logging, errors, internal trust, database,
the event lane, health, metrics, tracing, body limits, the OpenAPI document).

`create_app()` does no I/O; engines, broker connections and background tasks are built in the
lifespan and disposed of at shutdown (uvicorn runs it on SIGTERM/Ctrl-C)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import structlog
from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData

from microblog_common.allocator import limit_arenas
from microblog_common.db import Database
from microblog_common.db_errors import install_database_error_handlers
from microblog_common.errors import install_error_handlers
from microblog_common.events.bus import EventBus
from microblog_common.events.consumer import EventHandlers
from microblog_common.events.tables import MessagingTables
from microblog_common.events.topology import CONSUMED_EVENTS
from microblog_common.gc_pauses import log_gc_pauses, settle_after_startup
from microblog_common.health import health_router
from microblog_common.internal_auth import InternalAuthMiddleware
from microblog_common.lane import EventLane, LaneTask
from microblog_common.limits import BodyLimitMiddleware
from microblog_common.logging import configure_logging
from microblog_common.metrics import POOLS, MetricsMiddleware, metrics_endpoint
from microblog_common.migrations import upgrade_to_head
from microblog_common.openapi import install_openapi
from microblog_common.request_context import RequestContextMiddleware
from microblog_common.settings import ServiceSettings
from microblog_common.tracing import TracingMiddleware, configure_tracing

log = structlog.get_logger(__name__)

Hook = Callable[[FastAPI], Awaitable[None]]
# Paths every service answers without the gateway's signature (probes, the metrics scraper on the
# private network). The gateway routes none of them.
OPEN_PREFIXES = ("/health/", "/metrics")


@dataclass
class ServiceSpec:
    name: str
    metadata: MetaData
    messaging: MessagingTables
    migrations: Path
    routers: Sequence[APIRouter] = ()
    handlers: EventHandlers = field(default_factory=EventHandlers)
    version: str = "0.1.0"
    # What the service's routes and lane tasks need beside a session (settings, clients, models),
    # built from the settings without I/O: `app.state.runtime` and `lane.runtime`.
    build_runtime: Callable[[Any], Any] | None = None
    # The service's own event-lane work beside the relay and consumer (see `lane.py`).
    lane_tasks: Sequence[LaneTask] = ()
    # Extra start-up/shutdown work of the API process, run after the plumbing is up.
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


def bus_state(bus: EventBus) -> str:
    return "ok" if bus.is_healthy() else "not connected"


def own_threads(app: FastAPI, name: str, threads: int) -> anyio.CapacityLimiter:
    """Worker threads apart from the request threads, for work that must not wait for one of
    them; made on first use (in the app's event loop), one set per app and name."""
    limiters: dict[str, anyio.CapacityLimiter] | None = getattr(app.state, "own_threads", None)
    if limiters is None:
        limiters = app.state.own_threads = {}
    if name not in limiters:
        limiters[name] = anyio.CapacityLimiter(threads)
    return limiters[name]


def create_service_app(
    spec: ServiceSpec, settings: ServiceSettings, *, bus: EventBus | None = None
) -> FastAPI:
    """`bus` is passed in when several services share one in-process bus (the embedded mode)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(level=settings.log_level, json=settings.log_json)
        log_gc_pauses()
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_recycle=settings.db_pool_recycle_seconds,
        )
        POOLS.register(spec.name, "requests", db.engine)
        POOLS.register(spec.name, "reads", db.read_engine)
        if settings.migrate_on_start:
            await anyio.to_thread.run_sync(upgrade_to_head, spec.migrations, settings.database_url)
        owns_bus = bus is None
        event_bus = bus or build_bus(settings)
        if owns_bus:
            await event_bus.start()
        app.state.db = db
        app.state.bus = event_bus
        lane = None
        if settings.event_workers_in_process:
            lane = EventLane(spec, settings, event_bus, runtime=app.state.runtime, wake_on=(db,))
            await lane.start()
        app.state.lane = lane
        for hook in spec.on_startup:
            await hook(app)
        if settings.settles_gc:
            settle_after_startup()
        log.info(
            "service_started", service=spec.name, event_bus=settings.event_bus, event_lane=lane is not None
        )
        try:
            yield
        finally:
            for hook in spec.on_shutdown:
                await hook(app)
            if lane is not None:
                await lane.stop()
            if owns_bus:
                await event_bus.close()
            POOLS.unregister(spec.name, "requests")
            POOLS.unregister(spec.name, "reads")
            db.dispose()
            log.info("service_stopped", service=spec.name)

    limit_arenas()  # before the app's threads exist (`allocator.py`)
    app = FastAPI(title=f"Microblog {spec.name} service", version=spec.version, lifespan=lifespan)
    app.state.settings = settings
    app.state.runtime = spec.build_runtime(settings) if spec.build_runtime else None
    install_error_handlers(app)
    install_database_error_handlers(app)

    async def check_database() -> None:
        # Threads of its own: a burst of requests (sign-ins hashing passwords) holding every thread
        # of the default limiter must not make the service look down.
        await anyio.to_thread.run_sync(app.state.db.ping, limiter=own_threads(app, "health", 2))

    app.include_router(
        health_router({"database": check_database}, reports={"broker": lambda: bus_state(app.state.bus)})
    )
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in spec.routers:
        app.include_router(router)
    app.add_middleware(
        InternalAuthMiddleware,
        secret=settings.internal_secret.get_secret_value(),
        max_age=settings.internal_signature_max_age_seconds,
        open_prefixes=OPEN_PREFIXES,
    )
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_body_bytes=settings.max_upload_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    app.add_middleware(MetricsMiddleware, service=spec.name)
    app.add_middleware(RequestContextMiddleware, service=spec.name)
    # Outermost, so the access log line is written inside the request's span (with its trace id).
    if configure_tracing(spec.name):
        app.add_middleware(TracingMiddleware, service=spec.name)
    install_openapi(app)
    return app
