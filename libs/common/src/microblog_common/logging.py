"""Structured logs (JSON lines) with the request id and correlation id bound per request and
carried into outbox events and on into the handlers that consume them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

REDACTED_KEYS = frozenset({"password", "token", "access_token", "refresh_token", "authorization", "secret"})


def _redact(_: object, __: str, event_dict: dict) -> dict:
    for key in list(event_dict):
        if key.lower() in REDACTED_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Idempotent: in the embedded mode several services share the process and call this."""
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stdout, format="%(message)s")
    # uvicorn's own access log duplicates ours (which carries the ids); keep its errors.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def current_ids() -> tuple[str | None, str | None]:
    ctx = structlog.contextvars.get_contextvars()
    return ctx.get("request_id"), ctx.get("correlation_id")


@contextmanager
def bound(**values: object) -> Iterator[None]:
    """Bind log context for a block (e.g. one consumed event) and restore it afterwards."""
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
