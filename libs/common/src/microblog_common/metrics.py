"""Prometheus metrics every process exposes at `/metrics` (never routed publicly by the gateway),
through the maintained client library. One registry per process: in the embedded mode several
services share a process, so every series carries the `service` label.

- requests: `microblog_http_requests_total` and `microblog_http_request_duration_seconds`, by
  route template (or, at the gateway, route-table entry) and status;
- events: published, consumed (by outcome: handled, duplicate, stale), retried and dead-lettered,
  per event type;
- the outbox: backlog and the age of its oldest unpublished row (kept by the relay);
- database pools: connections in use and idle, per pool (requests, event lane)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from sqlalchemy import Engine

HTTP_REQUESTS = Counter(
    "microblog_http_requests",
    "HTTP requests answered, by route template and status.",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "microblog_http_request_duration_seconds",
    "Time to answer an HTTP request (to the end of its body; streams excluded).",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_PUBLISHED = Counter(
    "microblog_events_published", "Events the outbox relay published (broker-confirmed).", ["service", "type"]
)
EVENTS_CONSUMED = Counter(
    "microblog_events_consumed",
    "Events a consumer finished with, by outcome (handled, duplicate, stale).",
    ["service", "type", "outcome"],
)
EVENTS_RETRIED = Counter(
    "microblog_events_retried", "Failed event deliveries scheduled for another attempt.", ["service", "type"]
)
EVENTS_DEAD_LETTERED = Counter(
    "microblog_events_dead_lettered", "Events parked in a dead-letter queue.", ["service", "type"]
)
OUTBOX_BACKLOG = Gauge("microblog_outbox_backlog", "Outbox rows not yet published.", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "microblog_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none).",
    ["service"],
)

# Requests whose path matched no route are counted under one label, so a scan of random paths
# can't grow the number of series.
UNMATCHED_ROUTE = "unmatched"


class MetricsMiddleware:
    """Pure ASGI (streaming responses pass untouched). The route template is read after the app
    has routed the request (`scope["route"]`), so `/api/v1/statuses/123` counts as
    `/api/v1/statuses/{status_id}`. Health and metrics requests are not counted."""

    def __init__(self, app: ASGIApp, service: str, skip_prefixes: tuple[str, ...] = ("/health/", "/metrics")):
        self.app = app
        self.service = service
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefixes):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
            HTTP_DURATION.labels(self.service, method, template).observe(time.perf_counter() - started)


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    """For processes that route without a framework (the gateway's proxy)."""
    HTTP_REQUESTS.labels(service, method, route, str(status)).inc()
    HTTP_DURATION.labels(service, method, route).observe(seconds)


class PoolCollector(Collector):
    """Connections of the registered engines' pools, read at scrape time (no I/O)."""

    def __init__(self) -> None:
        self._pools: dict[tuple[str, str], Engine] = {}

    def register(self, service: str, pool: str, engine: Engine) -> None:
        self._pools[(service, pool)] = engine

    def unregister(self, service: str, pool: str) -> None:
        self._pools.pop((service, pool), None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "microblog_db_pool_connections",
            "Database connections per pool, by state (in_use, idle).",
            labels=["service", "pool", "state"],
        )
        for (service, pool), engine in list(self._pools.items()):
            checked_out, idle = _pool_usage(engine)
            family.add_metric([service, pool, "in_use"], checked_out)
            family.add_metric([service, pool, "idle"], idle)
        yield family


def _pool_usage(engine: Engine) -> tuple[int, int]:
    pool = engine.pool
    checked_out = getattr(pool, "checkedout", None)
    checked_in = getattr(pool, "checkedin", None)
    if callable(checked_out) and callable(checked_in):
        return int(checked_out()), int(checked_in())
    return 0, 0  # pools that keep no count (NullPool, SQLite's)


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def render_metrics() -> bytes:
    """The process's metrics in the text exposition format."""
    return generate_latest(REGISTRY)


async def metrics_endpoint(_: Request) -> Response:
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
