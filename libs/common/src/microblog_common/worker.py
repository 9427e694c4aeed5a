"""A service's event lane as a process of its own: `python -m <service>.worker` runs the outbox
relay, the inbox consumer and the service's lane tasks, and no public API. The API process hands
its lane over with `EVENT_WORKERS_IN_PROCESS=false`; both read the same settings.

It answers `/health/live`, `/health/ready` (its database and the broker: a worker without a
broker can do nothing) and `/metrics` on `WORKER_HOST:WORKER_PORT`, for the platform's probes and
the metrics scraper. uvicorn runs it, so SIGTERM stops it gracefully: the lane finishes the work in
hand and what is unpublished stays in the outbox for the next start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import structlog
import uvicorn
from fastapi import FastAPI

from microblog_common.db_errors import install_database_error_handlers
from microblog_common.errors import ServiceUnavailable, install_error_handlers
from microblog_common.health import health_router
from microblog_common.lane import EventLane
from microblog_common.logging import configure_logging
from microblog_common.metrics import metrics_endpoint
from microblog_common.migrations import upgrade_to_head
from microblog_common.service import ServiceSpec, build_bus
from microblog_common.settings import ServiceSettings
from microblog_common.tracing import configure_tracing, shutdown_tracing

log = structlog.get_logger(__name__)


def create_worker_app(spec: ServiceSpec, settings: ServiceSettings) -> FastAPI:
    if settings.event_bus != "rabbitmq":
        raise ValueError("a worker process needs EVENT_BUS=rabbitmq (the in-process bus can't reach it)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(level=settings.log_level, json=settings.log_json)
        configure_tracing(f"{spec.name}-worker")
        if settings.migrate_on_start:
            await anyio.to_thread.run_sync(upgrade_to_head, spec.migrations, settings.database_url)
        bus = build_bus(settings)
        await bus.start()
        runtime = spec.build_runtime(settings) if spec.build_runtime else None
        lane = EventLane(spec, settings, bus, runtime=runtime)
        await lane.start()
        app.state.bus, app.state.lane = bus, lane
        log.info("worker_started", service=spec.name)
        try:
            yield
        finally:
            await lane.stop()
            await bus.close()
            shutdown_tracing()
            log.info("worker_stopped", service=spec.name)

    app = FastAPI(
        title=f"Microblog {spec.name} worker",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_database_error_handlers(app)

    async def check_database() -> None:
        await app.state.lane.run_sync(app.state.lane.db.ping)

    async def check_broker() -> None:
        if not app.state.bus.is_healthy():
            raise ServiceUnavailable("event bus not connected")

    app.include_router(health_router({"database": check_database, "broker": check_broker}))
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    return app


def run_worker(spec: ServiceSpec, settings: ServiceSettings) -> None:
    uvicorn.run(
        create_worker_app(spec, settings),
        host=settings.worker_host,
        port=settings.worker_port,
        log_config=None,
        proxy_headers=False,
    )
