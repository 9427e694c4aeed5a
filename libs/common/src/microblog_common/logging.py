"""Structured logs (JSON lines) with the request id and correlation id bound per request and
carried into outbox events and on into the handlers that consume them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from structlog.typing import EventDict, Processor

from microblog_common.tracing import trace_ids

REDACTED_KEYS = frozenset({"password", "token", "access_token", "refresh_token", "authorization", "secret"})


def _drop_terminal_colours(_: object, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    return event_dict


def _add_trace_ids(_: object, __: str, event_dict: EventDict) -> EventDict:
    # Only while a span is current (tracing on); otherwise nothing is added.
    for key, value in trace_ids().items():
        event_dict.setdefault(key, value)
    return event_dict


def _rename_uvicorn_error(_: object, __: str, event_dict: EventDict) -> EventDict:
    # uvicorn logs its ordinary lines through a logger it calls "uvicorn.error"; the name would make
    # every start-up line look like an error to whoever reads or filters the logs.
    if event_dict.get("logger") == "uvicorn.error":
        event_dict["logger"] = "uvicorn"
    return event_dict


def _redact(_: object, __: str, event_dict: EventDict) -> EventDict:
    for key in list(event_dict):
        if key.lower() in REDACTED_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Idempotent: in the embedded mode several services share the process and call this.
    Libraries that log through the standard library (uvicorn, aio-pika, alembic) are rendered by
    the same processors, so every line of a process is one JSON object."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        _redact,
    ]
    # Plain tracebacks: a rich one (when `rich` is installed) prints every frame's locals, which
    # may hold secrets or megabytes of a request body, and takes seconds to render.
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                _rename_uvicorn_error,
                structlog.stdlib.ExtraAdder(),
                _drop_terminal_colours,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our access log carries the request ids; uvicorn's would repeat it without them.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # uvicorn installs its own handlers; let its records reach ours instead.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("alembic", "httpx", "aiormq", "aio_pika", "elastic_transport"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


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
