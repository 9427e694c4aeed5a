"""Real servers for the gateway's tests.

Upstreams: one small app per service name, run by uvicorn on loopback TCP ports and, as a second
set, on unix domain sockets. Each is guarded by the real `InternalAuthMiddleware` (so a request
the gateway signed wrongly is refused with 403) and reports what it received. Query parameters
select behaviours: `mode=slow`, `mode=sse`, `mode=upload`, `mode=cookies`, `mode=redirect`,
`mode=break`, `mode=text-error`, `mode=status`, `mode=big`. A WebSocket at `/api/v1/streaming` says hello
with what it saw, then echoes.

The gateway under test runs in-process (httpx.ASGITransport, with its lifespan) or, for
streaming, under a real uvicorn server."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.app import create_app
from gateway.auth import Identity
from gateway.settings import Settings
from gateway.upstreams import SERVICES
from microblog_common.internal_auth import InternalAuthMiddleware, identity_from_request

SECRET = "gateway-tests-internal-secret-0123456789"
PORT_RANGE = (20000, 32000)


def free_port() -> int:
    """A free loopback port in the range this machine allows for test servers."""
    for _ in range(200):
        port = random.randint(*PORT_RANGE)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


# -- upstream stand-ins ----------------------------------------------------------------------


@dataclass
class UpstreamControl:
    """Knobs the tests turn on the running upstreams (they live in another thread)."""

    unready: set[str] = field(default_factory=set)
    gates: dict[str, threading.Event] = field(default_factory=dict)
    # What the users and translate services tell the gateway about the instance.
    stats: dict[str, int] = field(
        default_factory=lambda: {"user_count": 3, "status_count": 12, "active_month": 2}
    )
    translation: dict[str, Any] = field(default_factory=lambda: {"enabled": True, "provider": "microsoft"})

    def gate(self, name: str) -> threading.Event:
        return self.gates.setdefault(name, threading.Event())


def _seen(request: Request | WebSocket, service: str) -> dict[str, Any]:
    identity = identity_from_request(request)
    return {
        "service": service,
        "method": request.scope.get("method", "GET"),
        "path": request.url.path,
        "query": request.url.query,
        "headers": {k: v for k, v in request.headers.items()},
        "header_list": [[k.decode(), v.decode()] for k, v in request.scope["headers"]],
        "identity": None
        if identity is None
        else {"user_id": identity.user_id, "scopes": sorted(identity.scopes), "token_id": identity.token_id},
    }


async def _wait_for(gate: threading.Event, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not gate.is_set():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def upstream_app(service: str, control: UpstreamControl) -> Any:
    async def ready(request: Request) -> Response:
        if service in control.unready:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def internal(request: Request) -> Response:
        if service == "users" and request.url.path == "/internal/stats":
            return JSONResponse(control.stats)
        if service == "translate" and request.url.path == "/internal/translation":
            return JSONResponse(control.translation)
        return await anything(request)

    async def anything(request: Request) -> Response:
        mode = request.query_params.get("mode")
        if mode == "slow":
            await asyncio.sleep(float(request.query_params.get("seconds", "5")))
        if mode == "sse":
            gate = control.gate(request.query_params["gate"])

            async def events() -> AsyncIterator[bytes]:
                try:
                    yield b"event: update\ndata: first\n\n"
                    # The rest only once the test has seen the first event through the gateway.
                    await _wait_for(gate, timeout=float(request.query_params.get("hold", "10")))
                    yield b"event: update\ndata: second\n\n"
                    yield b": keep-alive comment\n\n"
                    yield b"event: delete\ndata: third\n\n"
                finally:
                    control.gate(request.query_params["gate"] + ":ended").set()

            return StreamingResponse(events(), media_type="text/event-stream")
        if mode == "upload":
            gate = control.gate(request.query_params["gate"])
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size:
                    gate.set()  # the first bytes have arrived while the client still sends
            return JSONResponse({"service": service, "bytes": size})
        if mode == "cookies":
            response = JSONResponse(
                {"service": service}, headers={"link": '<http://x/?max_id=1>; rel="next"'}
            )
            response.set_cookie("a", "1")
            response.set_cookie("b", "2")
            return response
        if mode == "redirect":
            # Addressed to the service's own origin, as frameworks do from the Host header.
            return RedirectResponse(str(request.base_url) + "oauth/authorize/native", status_code=302)
        if mode == "external-redirect":
            return RedirectResponse("https://app.example/callback?code=1", status_code=302)
        if mode == "break":

            async def half() -> AsyncIterator[bytes]:
                yield b'{"partial": '
                raise RuntimeError("the service fell over mid-response")

            return StreamingResponse(half(), media_type="application/json")
        if mode == "big":
            size = int(request.query_params["bytes"])
            return Response(bytes(range(256)) * (size // 256), media_type="application/octet-stream")
        if mode == "text-error":
            return PlainTextResponse("Internal Server Error", status_code=500)
        if mode == "limited":  # the service's own limit (e.g. translations per account)
            headers = {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "2031-01-01T00:00:00.000Z",
                "Retry-After": "42",
            }
            return JSONResponse({"error": "Too many translations"}, status_code=429, headers=headers)
        if mode == "status":
            code = int(request.query_params["code"])
            return JSONResponse({"error": f"upstream said {code}"}, status_code=code)
        body = await request.body()
        return JSONResponse({**_seen(request, service), "body": body.decode("latin-1")})

    async def streaming_ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({**_seen(websocket, service), "hello": True})
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") == "close":
                    await websocket.close(code=4001, reason="bye")
                    return
                if message.get("text") is not None:
                    await websocket.send_text("echo:" + message["text"])
                else:
                    await websocket.send_bytes(b"echo:" + message["bytes"])
        except WebSocketDisconnect:
            return

    app = Starlette(
        routes=[
            Route("/health/ready", ready),
            Route("/health/live", lambda r: JSONResponse({"status": "ok"})),
            WebSocketRoute("/api/v1/streaming", streaming_ws),
            Route("/internal/{rest:path}", internal),
            Route(
                "/{path:path}", anything, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
            ),
        ]
    )
    return InternalAuthMiddleware(app, secret=SECRET, max_age=60)


async def _broken_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every request with bytes that are not HTTP."""
    await reader.read(1024)
    writer.write(b"this is not http\r\n\r\n")
    await writer.drain()
    writer.close()


# -- servers in a background thread ----------------------------------------------------------


class BackgroundServers:
    """uvicorn servers (and raw asyncio ones) on one event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-servers", daemon=True)
        self.thread.start()
        self.running: list[tuple[uvicorn.Server, Any]] = []
        self.raw: list[asyncio.Server] = []

    def start(self, app: Any, *, port: int | None = None, uds: str | None = None) -> uvicorn.Server:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port or 0,
            uds=uds,
            lifespan="on",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            ws="websockets-sansio",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        future = asyncio.run_coroutine_threadsafe(server.serve(), self.loop)
        deadline = time.monotonic() + 15
        while not server.started:
            if future.done():
                future.result()
                raise RuntimeError("server stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            time.sleep(0.01)
        self.running.append((server, future))
        return server

    def start_broken(self, port: int) -> None:
        async def start() -> asyncio.Server:
            return await asyncio.start_server(_broken_http, "127.0.0.1", port)

        self.raw.append(asyncio.run_coroutine_threadsafe(start(), self.loop).result(10))

    def stop(self, *servers: uvicorn.Server) -> None:
        stopping = [(server, future) for server, future in self.running if server in servers]
        for server, _ in stopping:
            server.should_exit = True
        for entry in stopping:
            entry[1].result(15)
            self.running.remove(entry)

    def close(self) -> None:
        self.stop(*(server for server, _ in self.running))
        for raw in self.raw:
            raw.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Upstreams:
    control: UpstreamControl
    tcp: dict[str, str]
    uds: dict[str, str]
    broken_url: str
    servers: BackgroundServers


@pytest.fixture(scope="session")
def upstreams() -> Iterator[Upstreams]:
    servers = BackgroundServers()
    control = UpstreamControl()
    socket_dir = Path(tempfile.mkdtemp(prefix="gw-"))  # short: unix socket paths max ~100 bytes
    try:
        tcp, uds = {}, {}
        for name in SERVICES:
            port = free_port()
            servers.start(upstream_app(name, control), port=port)
            tcp[name] = f"http://127.0.0.1:{port}"
            path = socket_dir / f"{name}.sock"
            servers.start(upstream_app(name, control), uds=str(path))
            uds[name] = f"unix:{path}"
        broken_port = free_port()
        servers.start_broken(broken_port)
        yield Upstreams(control, tcp, uds, f"http://127.0.0.1:{broken_port}", servers)
    finally:
        servers.close()
        for leftover in socket_dir.iterdir():
            leftover.unlink()
        socket_dir.rmdir()


def dead_tcp_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


# -- the gateway under test --------------------------------------------------------------------


def gateway_settings(urls: dict[str, str], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        **{f"{name}_url": url for name, url in urls.items()},
        "internal_secret": SECRET,
        "environment": "test",
        "log_json": False,
        "log_level": "WARNING",
        "upstream_timeout_seconds": 5,
        "upstream_connect_timeout_seconds": 2,
        "health_check_timeout_seconds": 1,
    }
    values.update(overrides)
    return Settings(**values)


class TokenTable:
    """An authenticator with a fixed table of tokens: the plug-in point, exercised for real."""

    def __init__(self, identities: dict[str, Identity]):
        self.identities = identities
        self.on_revoked: list[Callable[[str], None]] = []

    async def authenticate(self, token: str) -> Identity | None:
        return self.identities.get(token)

    def revoke(self, token: str) -> None:
        """As the verifier does when the revocation feed names the token."""
        identity = self.identities.pop(token)
        for callback in self.on_revoked:
            callback(identity.token_id or "")


ALICE = Identity(user_id=42, scopes=frozenset({"read", "write"}), app_id="7", token_id="tok-1")
ALICE_TOKEN = "alice-token"


def asgi_client(app: Any, client_ip: str = "198.51.100.7") -> httpx.AsyncClient:
    """A client calling `app` in-process, as if from `client_ip`."""
    transport = httpx.ASGITransport(app=app, client=(client_ip, 43210))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


@contextlib.asynccontextmanager
async def in_process_gateway(
    settings: Settings, *, client_ip: str = "198.51.100.7", **app_kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, **app_kwargs)
    async with app.router.lifespan_context(app), asgi_client(app, client_ip) as client:
        client.app = app  # for tests that add clients from other addresses
        yield client


@pytest.fixture
def gateway(upstreams: Upstreams) -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    """`async with gateway(**setting_overrides) as client:` an in-process gateway over the TCP
    upstreams (pass `urls=` for others, `authenticator=`/`rate_limit_rules=` for the app)."""

    def make(urls: dict[str, str] | None = None, client_ip: str = "198.51.100.7", **kwargs: Any):
        app_kwargs = {k: kwargs.pop(k) for k in ("authenticator", "rate_limit_rules") if k in kwargs}
        settings = gateway_settings(urls or upstreams.tcp, **kwargs)
        return in_process_gateway(settings, client_ip=client_ip, **app_kwargs)

    return make


@pytest.fixture
def served_gateway(upstreams: Upstreams) -> Iterator[Callable[..., str]]:
    """`served_gateway(urls, **overrides)` runs a real uvicorn gateway and returns its origin."""
    started: list[uvicorn.Server] = []

    def start(urls: dict[str, str] | None = None, **kwargs: Any) -> str:
        app_kwargs = {k: kwargs.pop(k) for k in ("authenticator", "rate_limit_rules") if k in kwargs}
        port = free_port()
        app = create_app(gateway_settings(urls or upstreams.tcp, **kwargs), **app_kwargs)
        started.append(upstreams.servers.start(app, port=port))
        return f"http://127.0.0.1:{port}"

    yield start
    upstreams.servers.stop(*started)
