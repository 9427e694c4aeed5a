"""OpenTelemetry tracing across gateway -> service -> outbox -> broker -> consumer.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (then spans are exported over OTLP/HTTP with the
SDK's standard environment settings) or a process installed an SDK tracer provider itself (tests,
with the in-memory exporter). Off means the API's no-op tracer and no middleware at all, so it
costs nothing on the request path.

The trace context crosses the process boundaries the way the requests and events do: the gateway
sends `traceparent` to the service it forwards to; a service's server span continues it; an event
written through the outbox carries the writer's context in its envelope (`trace_context`, beside
`correlation_id`); the relay's publish span and each consumer's process span continue from there.
Log lines carry `trace_id` and `span_id` while a span is current."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from microblog_common.events.envelope import Event

TRACER_NAME = "microblog"
_configure_lock = threading.Lock()
_configured = False


def tracing_enabled() -> bool:
    """A real (SDK) tracer provider is installed: by `configure_tracing` or by a test."""
    return type(trace.get_tracer_provider()).__module__.startswith("opentelemetry.sdk")


def configure_tracing(process_name: str) -> bool:
    """Installs the SDK with an OTLP/HTTP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
    (once per process; the embedded mode's services share it). Returns whether tracing is on."""
    global _configured
    with _configure_lock:
        if _configured or tracing_enabled():
            return True
        if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            return False
        # Imported only when used: the SDK and exporter cost memory a process without tracing
        # shouldn't pay.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        service_name = os.environ.get("OTEL_SERVICE_NAME") or f"microblog-{process_name}"
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        _configured = True
        return True


def shutdown_tracing() -> None:
    """Flush what is buffered (at process exit)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if _configured and callable(shutdown):
        shutdown()


def _tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def current_trace_context() -> dict[str, str]:
    """The current span's context as W3C headers (empty when there is none)."""
    carrier: dict[str, str] = {}
    if tracing_enabled():
        propagate.inject(carrier)
    return carrier


def inject_headers(headers: MutableMapping[str, str]) -> None:
    if tracing_enabled():
        propagate.inject(headers)


def trace_ids() -> dict[str, str]:
    """`trace_id` and `span_id` of the current span, for log lines (empty when there is none)."""
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


@contextmanager
def publish_spans(service: str, events: Sequence[Event]) -> Iterator[None]:
    """One producer span per event published (children of the change that wrote each)."""
    if not tracing_enabled():
        yield
        return
    tracer = _tracer()
    spans = [
        tracer.start_span(
            f"{event.type} publish",
            context=propagate.extract(event.trace_context),
            kind=SpanKind.PRODUCER,
            attributes=_event_attributes(service, event),
        )
        for event in events
    ]
    try:
        yield
    except BaseException as exc:
        for span in spans:
            span.set_status(Status(StatusCode.ERROR, str(exc)))
        raise
    finally:
        for span in spans:
            span.end()


@contextmanager
def consumer_span(service: str, event: Event) -> Iterator[None]:
    """The consumer's span for one event, continuing the trace of the change that wrote it."""
    if not tracing_enabled():
        yield
        return
    with _tracer().start_as_current_span(
        f"{event.type} process",
        context=propagate.extract(event.trace_context),
        kind=SpanKind.CONSUMER,
        attributes=_event_attributes(service, event),
    ):
        yield


def _event_attributes(service: str, event: Event) -> dict[str, Any]:
    return {
        "microblog.service": service,
        "messaging.system": "microblog",
        "messaging.destination.name": event.type,
        "messaging.message.id": str(event.id),
        "microblog.event.subject": event.subject,
        "microblog.event.version": event.version,
    }


class TracingMiddleware:
    """A server span per HTTP request or WebSocket, continuing the caller's `traceparent` (unless
    `continue_incoming` is False: the gateway, at the edge, starts every trace itself). Added by
    the app factories only when tracing is on."""

    def __init__(self, app: ASGIApp, service: str, continue_incoming: bool = True):
        self.app = app
        self.service = service
        self.continue_incoming = continue_incoming

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(("/health/", "/metrics")):
            await self.app(scope, receive, send)
            return
        carrier = (
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if self.continue_incoming
            else {}
        )
        method = scope.get("method", "WS")
        with _tracer().start_as_current_span(
            f"{method} {scope['path']}",
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"microblog.service": self.service, "http.request.method": method},
        ) as span:

            async def observe(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, observe)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None)
                if template:
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
