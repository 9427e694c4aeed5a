"""Request ids, correlation ids and the access log, as pure ASGI middleware (streaming-safe)."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("access")

HEADER_REQUEST_ID = "x-request-id"
HEADER_CORRELATION_ID = "x-correlation-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _clean(value: str | None) -> str | None:
    return value if value and _VALID_ID.match(value) else None


# Requests logged at debug only: probes, the metrics scraper, and the gateway's own polling of the
# services (every 2 s), which would otherwise be most of a quiet service's log.
QUIET_PREFIXES = (
    "/health/",
    "/metrics",
    "/internal/token-revocations",
    "/internal/stats",
    "/internal/translation",
)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, service: str, trust_incoming_ids: bool = True):
        self.app = app
        self.service = service
        self.trust_incoming_ids = trust_incoming_ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = _clean(headers.get(HEADER_REQUEST_ID)) if self.trust_incoming_ids else None
        request_id = incoming or uuid.uuid4().hex
        correlation_id = _clean(headers.get(HEADER_CORRELATION_ID)) or request_id
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            service=self.service, request_id=request_id, correlation_id=correlation_id
        )
        started = time.perf_counter()
        status = {"code": 0}

        async def send_with_id(message: Message) -> None:
            # HTTP answers and WebSocket handshakes (accepted or denied) all carry the id.
            if message["type"] in (
                "http.response.start",
                "websocket.accept",
                "websocket.http.response.start",
            ):
                status["code"] = message.get("status", 101)
                raw = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                raw.append((b"x-request-id", request_id.encode()))
                message["headers"] = raw
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            write = log.debug if scope["path"].startswith(QUIET_PREFIXES) else log.info
            write(
                "request",
                method=scope.get("method", "WS"),
                path=scope["path"],
                status=status["code"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
