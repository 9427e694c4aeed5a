"""HTTP pass-through: the request body streams to the service as it arrives, the response streams
back as the service writes it (Server-Sent Events included); neither is held whole in memory.

Request bodies are limited here, at the edge (`BodyLimits`): one announced too large is refused
with 413 before it is read; one streamed is counted (and JSON scanned for depth) as it is relayed,
and cut with 413 (400 for depth) the moment it goes over, the upstream request aborted.

Failures reaching the service become the API's errors: 503 when it can't be reached, 504 when
it doesn't answer in time, 502 when it answers with something that isn't HTTP.

Pure ASGI on purpose, and over aiohttp rather than httpx: this is the hot path of every API call.
Measured under load (bench/README.md), httpx/httpcore cost milliseconds per request (its pool
checks every idle connection on each request, and each request crosses several layers of anyio
wrappers), and a framework route plus `StreamingResponse` costs a task group per response. Here a
request costs one aiohttp round trip, and an answer that has fully arrived by the time its headers
are read (most of them) goes out as one message, with no task spawned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send
from yarl import URL

from gateway.access import send_error
from gateway.auth import strip_token_param
from gateway.forwarding import (
    client_response_headers,
    context_headers,
    signed_identity_headers,
    upstream_request_headers,
)
from gateway.paths import has_dot_segment
from gateway.routes import Route, resolve
from gateway.streams import OpenStreams
from gateway.upstreams import Upstream, open_session
from microblog_common.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_UPLOAD_BODY_BYTES,
    BodyTooLarge,
    JsonDepthScanner,
    JsonTooDeep,
    announced_length,
    is_json,
    is_upload,
)
from microblog_common.logging import current_ids

log = structlog.get_logger(__name__)

# A body announced at most this long is read whole before it is relayed; a longer one, or one of
# unknown length (Server-Sent Events), is relayed as it arrives.
WHOLE_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class BodyLimits:
    """What a request body may be: larger ones get 413 (announced: before reading; streamed: as
    soon as they go over), JSON nested deeper 400. Uploads (multipart) have their own size."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_body_bytes: int = DEFAULT_MAX_UPLOAD_BODY_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH

    def for_content_type(self, content_type: str | None) -> int:
        return self.max_upload_body_bytes if is_upload(content_type) else self.max_body_bytes


@dataclass(frozen=True)
class UpstreamFailure:
    status: int
    message: str


def failure_for(exc: BaseException, service: str) -> UpstreamFailure:
    if isinstance(exc, TimeoutError):  # aiohttp's and websockets' timeouts included
        return UpstreamFailure(504, f"The {service} service did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError | FileNotFoundError):
        return UpstreamFailure(503, f"The {service} service is unavailable")
    return UpstreamFailure(502, f"The {service} service sent an invalid response")


def raw_target(scope: Scope, query: str) -> str:
    """Path and query as the client sent them (still percent-encoded), minus any access token."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    return raw_path.decode("latin-1") + ("?" + query if query else "")


class BodyRefused(Exception):
    """Raised from inside the body being relayed: aborts the upstream request."""


class _RequestBody:
    """The client's body as an async iterator for aiohttp, read from ASGI `receive` as it arrives,
    counted against its size limit and (JSON) scanned for nesting depth on the way: a body that
    goes over is cut there, the upstream request aborted, and the client answered `refusal`."""

    def __init__(self, receive: Receive, limit: int, depth: JsonDepthScanner | None):
        self.receive = receive
        self.limit = limit
        self.depth = depth
        self.received = 0
        self.complete = False
        self.client_left = False
        self.refusal: tuple[int, str] | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.complete:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                # Raising through aiohttp aborts the upstream request rather than ending it as if
                # the body were complete.
                self.client_left = True
                raise ConnectionAbortedError("the client left mid-upload")
            self.complete = not message.get("more_body", False)
            chunk = message.get("body")
            if chunk:
                self._check(chunk)
                yield chunk

    def _check(self, chunk: bytes) -> None:
        self.received += len(chunk)
        try:
            if self.received > self.limit:
                raise BodyTooLarge(self.limit)
            if self.depth is not None:
                self.depth.feed(chunk)
        except (BodyTooLarge, JsonTooDeep) as exc:
            self.refusal = (exc.status_code, exc.message)
            raise BodyRefused(exc.message) from exc


class Proxy:
    """Forwards one HTTP request to the service the route table chose. `start()` opens the
    connection pools (inside the running event loop), `close()` closes them."""

    def __init__(
        self,
        upstreams: dict[str, Upstream],
        secret: str,
        *,
        timeout: float,
        connect_timeout: float,
        max_connections: int,
        limits: BodyLimits | None = None,
        streams: OpenStreams | None = None,
    ):
        self.upstreams = upstreams
        self.streams = streams if streams is not None else OpenStreams()
        self.secret = secret
        self.limits = limits or BodyLimits()
        self.timeout = timeout
        self.max_connections = max_connections
        # `connect` also bounds the wait for a free pooled connection.
        self.request_timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=connect_timeout, sock_read=timeout
        )
        # A stream may stay quiet for minutes between events: no read timeout once it started
        # (the wait for its first byte is bounded in `__call__`).
        self.streaming_timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=connect_timeout, sock_read=None
        )
        self.sessions: dict[str, aiohttp.ClientSession] = {}

    async def start(self) -> None:
        limit = self.max_connections
        self.sessions = {name: open_session(up, max_connections=limit) for name, up in self.upstreams.items()}

    async def close(self) -> None:
        sessions, self.sessions = self.sessions, {}
        await asyncio.gather(*(session.close() for session in sessions.values()))

    def target_for(self, method: str, path: str) -> tuple[Route, Upstream] | None:
        if has_dot_segment(path):
            return None
        matched = resolve(method, path)
        return (matched, self.upstreams[matched.service]) if matched else None

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, route: Route, upstream: Upstream
    ) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        state = scope["state"]
        query = strip_token_param(scope.get("query_string", b"").decode("latin-1"))
        target = raw_target(scope, query)
        client_headers = scope["headers"]
        host = _header(client_headers, b"host")
        scheme = scope.get("scheme", "http")
        request_id, correlation_id = current_ids()
        headers = upstream_request_headers(client_headers, keep_basic_auth=path.startswith("/oauth/"))
        headers += context_headers(
            client_ip=state["client_ip"],
            scheme=scheme,
            host=host,
            request_id=request_id,
            correlation_id=correlation_id,
        )
        # Signed over the target exactly as it goes on the wire (`encoded=True`: yarl leaves it be).
        headers += signed_identity_headers(
            self.secret, method, target.encode("latin-1"), state["identity"], state["client_ip"]
        ).items()
        body = None
        if _has_body(client_headers):
            content_type = _header(client_headers, b"content-type")
            limit = self.limits.for_content_type(content_type)
            length = announced_length({k.lower(): v for k, v in client_headers})
            if length is not None and length > limit:
                # Refused before a byte of it is read, let alone relayed.
                await send_error(scope, send, 413, BodyTooLarge(limit).message, [])
                return
            depth = JsonDepthScanner(self.limits.max_json_depth) if is_json(content_type) else None
            body = _RequestBody(receive, limit, depth)
        session = self.sessions[upstream.name]
        try:
            request = session.request(
                method,
                URL(upstream.base_url + target, encoded=True),
                headers=headers,
                data=body.chunks() if body else None,
                allow_redirects=False,  # redirects are the client's to follow
                timeout=self.streaming_timeout if route.streaming else self.request_timeout,
            )
            if route.streaming:
                # Streams have no read timeout, so the wait for their first byte is bounded here.
                async with asyncio.timeout(self.timeout):
                    response = await request
            else:
                response = await request
        except Exception as exc:
            if body is not None and body.refusal is not None:
                # Cut as soon as it went over; the upstream request was aborted, not completed.
                await send_error(scope, send, *body.refusal, [])
                return
            if body is not None and body.client_left:
                # Nobody reads this answer; the upstream request was aborted, not completed.
                await send_error(scope, send, 400, "The request body was cut short", [])
                return
            if not isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
                raise
            await _send_failure(scope, send, exc, upstream)
            return
        identity = state["identity"]
        try:
            public_origin = f"{scheme}://{host or _server_netloc(scope)}"
            with self.streams.track(identity.token_id if identity and route.streaming else None) as ended:
                await self._relay(scope, receive, send, upstream, response, public_origin, body, ended)
        except BaseException:
            response.close()  # the connection is in an unknown state: never reused
            raise
        response.release()

    async def _relay(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        upstream: Upstream,
        response: aiohttp.ClientResponse,
        public_origin: str,
        body: _RequestBody | None,
        ended: asyncio.Event,
    ) -> None:
        if response.status >= 400 and scope["path"].startswith("/api/"):
            if "json" not in response.headers.get("content-type", ""):
                # Never an HTML (or plain text) error on /api: keep the status, say it in JSON.
                await send_error(scope, send, response.status, response.reason or "Request failed", [])
                return
        start = {
            "type": "http.response.start",
            "status": response.status,
            "headers": client_response_headers(
                list(response.raw_headers),
                upstream.base_url,
                public_origin,
                keep_rate_limits=response.status == 429,
            ),
        }
        content = response.content
        length = response.content_length
        if content.is_eof() or (length is not None and length <= WHOLE_BODY_BYTES):
            # Small answers (most) go out whole, as one message: their body is already here or
            # on its way behind the headers.
            try:
                whole = content.read_nowait() if content.is_eof() else await content.read()
            except (aiohttp.ClientError, TimeoutError) as exc:  # it arrived broken, or too late
                await _send_failure(scope, send, exc, upstream)
                return
            await send(start)
            await send({"type": "http.response.body", "body": whole})
            return
        await send(start)
        if body is not None and not body.complete:
            # Still reading the client's body (the service answered early): `receive` is that
            # reader's, so the disconnect is noticed there.
            await _pump(upstream, content, send)
            return
        # A long or endless body (Server-Sent Events): ended as soon as the client leaves, so no
        # stream stays open at the service for a client that is gone, or its token is revoked.
        pump = asyncio.ensure_future(_pump(upstream, content, send))
        gone = asyncio.ensure_future(_client_left(receive))
        revoked = asyncio.ensure_future(ended.wait())
        try:
            await asyncio.wait((pump, gone, revoked), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, gone, revoked):
                task.cancel()
            await asyncio.gather(pump, gone, revoked, return_exceptions=True)
        if ended.is_set():
            log.info("stream_ended_token_revoked", service=upstream.name)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if not pump.cancelled():
            pump.result()  # an upstream failure mid-body propagates: the connection is cut


# What a browser shows when the web UI itself can't answer (the UI's own pages say which part of
# the site is down when only a service behind it is).
UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>The site is unavailable right now</title></head>
<body><main><h1>The site is unavailable right now</h1>
<p>{reason}. Apps keep working; please try this page again in a few minutes.</p></main></body></html>
"""
RETRY_AFTER_SECONDS = 30


def _wants_page(scope: Scope, upstream: Upstream) -> bool:
    accept = _header(scope.get("headers", []), b"accept") or ""
    return scope["type"] == "http" and upstream.name == "web" and "text/html" in accept


async def _send_failure(scope: Scope, send: Send, exc: BaseException, upstream: Upstream) -> None:
    failure = failure_for(exc, upstream.name)
    log.warning("upstream_failed", service=upstream.name, status=failure.status, error=repr(exc))
    if _wants_page(scope, upstream):
        body = UNAVAILABLE_PAGE.format(reason=failure.message).encode()
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        ]
        await send({"type": "http.response.start", "status": failure.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await send_error(scope, send, failure.status, failure.message, [])


async def _pump(upstream: Upstream, content: aiohttp.StreamReader, send: Send) -> None:
    try:
        async for chunk in content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        # The status line is already on its way: all that's left is to cut the connection.
        log.warning("upstream_broke_mid_response", service=upstream.name, error=repr(exc))
        raise
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _client_left(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class ProxyMiddleware:
    """HTTP requests the route table gives to a service go straight to the proxy (no framework
    routing, no response objects); everything else (the gateway's own endpoints, WebSockets,
    unknown paths) goes on to the app. The route table never claims a gateway endpoint's path
    (tests/test_proxy.py checks it)."""

    def __init__(self, app: ASGIApp, proxy: Proxy):
        self.app = app
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self.proxy.target_for(scope["method"], scope["path"])
            if found is not None:
                scope["route"] = found[0]  # what the metrics and traces are labelled by
                await self.proxy(scope, receive, send, *found)
                return
        await self.app(scope, receive, send)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for key, value in headers:
        key = key.lower()
        if key == b"transfer-encoding" or (key == b"content-length" and value.strip() != b"0"):
            return True
    return False


def _server_netloc(scope: Scope) -> str:
    server = scope.get("server")
    if not server:
        return "localhost"
    host, port = server
    return host if port in (None, 80, 443) else f"{host}:{port}"
