"""The embedded mode (`make run`): the gateway and all six services in one process, one public
port, each service with its own SQLite file, events over one in-process bus.

Each service is served by its own uvicorn server on a unix socket, so the gateway talks to it
exactly as it does in production (HTTP, streaming, WebSocket) and the services stay separate apps
with separate databases; only the transport is local."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

from microblog_common.events.memory import MemoryBus
from microblog_common.events.topology import CONSUMED_EVENTS
from microblog_common.logging import configure_logging

SERVICES = ("users", "posts", "search", "translate", "notify", "web")
log = structlog.get_logger("embedded")


def new_bus() -> MemoryBus:
    """The bus every service of the process shares. It knows who consumes what: after a crash,
    the posts relay republishes what it had not yet handed over as soon as it starts, before the
    consumers have all subscribed; those events wait for them, as in their broker queues."""
    return MemoryBus(topology=CONSUMED_EVENTS)


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the embedded runner, which stops the
    servers in order (gateway first, so no request reaches a service that is shutting down)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _extra_settings(name: str, data_dir: Path, gateway_url: str) -> dict[str, object]:
    """Per-service settings of the embedded mode: notify writes its email as files under the data
    dir (one `.eml` per message, and a log line with its links); users keeps uploaded avatars and
    headers there; search keeps its embedded index there; the web UI calls the API through the
    gateway's own port, like any client."""
    if name == "notify":
        return {"email_backend": "file", "mail_dir": data_dir / "mail"}
    if name == "users":
        return {"media_root": data_dir / "media"}
    if name == "search":
        return {"search_index_dir": data_dir / "search-index"}
    if name == "web":
        return {"gateway_url": gateway_url}
    return {}


# Services that call another one directly, over its unix socket (posts asks users for an author's
# current posting defaults).
CALLS: dict[str, tuple[str, ...]] = {"posts": ("users",)}


def _service_app(
    name: str,
    data_dir: Path,
    secret: str,
    bus: MemoryBus,
    public_url: str,
    sockets: dict[str, Path],
    gateway_url: str,
) -> FastAPI:
    settings = importlib.import_module(f"{name}.settings").Settings(
        **_extra_settings(name, data_dir, gateway_url),
        database_url=f"sqlite:///{data_dir / f'{name}.db'}",
        event_bus="memory",
        migrate_on_start=True,
        environment="development",
        internal_secret=secret,
        log_json=False,
        public_url=public_url,
        **{f"{callee}_url": f"unix:{sockets[callee]}" for callee in CALLS.get(name, ())},
    )
    app: FastAPI = importlib.import_module(f"{name}.app").create_app(settings, bus=bus)
    return app


def _gateway_app(sockets: dict[str, Path], secret: str, public_url: str) -> FastAPI:
    from gateway.app import create_app
    from gateway.settings import Settings

    upstreams: dict[str, Any] = {f"{name}_url": f"unix:{sock}" for name, sock in sockets.items()}
    settings = Settings(
        **upstreams,
        internal_secret=secret,
        environment="development",
        log_json=False,
        public_url=public_url,
    )
    return create_app(settings)


async def serve(host: str, port: int, data_dir: Path, started: asyncio.Event | None = None) -> None:
    # Unix socket paths are limited to ~100 bytes, so they live in a short temp dir, not the data dir.
    socket_dir = Path(tempfile.mkdtemp(prefix="microblog-"))
    secret = secrets.token_urlsafe(48)  # internal only: new each run
    bus = new_bus()
    await bus.start()
    sockets = {name: socket_dir / f"{name}.sock" for name in SERVICES}
    public_url = f"http://{host}:{port}"
    gateway_url = f"http://{'127.0.0.1' if host in ('', '0.0.0.0', '::') else host}:{port}"  # noqa: S104
    service_servers = {
        name: _QuietServer(
            uvicorn.Config(
                _service_app(name, data_dir, secret, bus, public_url, sockets, gateway_url),
                uds=str(sockets[name]),
                log_config=None,
            )
        )
        for name in SERVICES
    }
    gateway = _QuietServer(
        uvicorn.Config(
            _gateway_app(sockets, secret, public_url),
            host=host,
            port=port,
            log_config=None,
            # The gateway decides itself whom to believe about client addresses (TRUSTED_PROXIES).
            proxy_headers=False,
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        for name, server in service_servers.items():
            tasks[name] = asyncio.create_task(server.serve(), name=name)
        await _wait_started(service_servers, tasks)
        tasks["gateway"] = asyncio.create_task(gateway.serve(), name="gateway")
        await _wait_started({"gateway": gateway}, tasks)
        log.info("microblog_ready", url=public_url, data_dir=str(data_dir))
        if started is not None:
            started.set()
        done_early = asyncio.create_task(asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED))
        await asyncio.wait(
            [asyncio.create_task(stop.wait()), done_early], return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        gateway.should_exit = True
        if "gateway" in tasks:
            await asyncio.gather(tasks["gateway"], return_exceptions=True)
        for server in service_servers.values():
            server.should_exit = True
        await asyncio.gather(*(tasks[n] for n in SERVICES if n in tasks), return_exceptions=True)
        await bus.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        shutil.rmtree(socket_dir, ignore_errors=True)
        log.info("microblog_stopped")


async def _wait_started(
    servers: Mapping[str, uvicorn.Server], tasks: dict[str, asyncio.Task[None]], limit: float = 60
) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not all(s.started for s in servers.values()):
        for name in servers:
            if tasks[name].done():
                exc = tasks[name].exception() if not tasks[name].cancelled() else None
                raise RuntimeError(f"{name} failed to start") from exc
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(
                f"not started within {limit}s: {[n for n, s in servers.items() if not s.started]}"
            )
        await asyncio.sleep(0.05)


def main() -> None:
    configure_logging(level=os.environ.get("LOG_LEVEL", "INFO"), json=False)
    # Seven uvicorn servers share the process: their start and stop lines would each come seven times.
    # The runner says once what matters (microblog_ready, microblog_stopped); warnings still show.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    data_dir = Path(os.environ.get("MICROBLOG_DATA_DIR", ".data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"Microblog (embedded mode) starting on http://{host}:{port}  data: {data_dir}", flush=True)
    asyncio.run(serve(host, port, data_dir))
    # Stopped: a second Ctrl-C (a terminal sends one to `uv` too, which passes it on) must not
    # interrupt the interpreter's own shutdown with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
