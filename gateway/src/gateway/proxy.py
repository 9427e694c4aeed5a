"""HTTP pass-through: the request body streams to the service as it arrives, the response streams
back as the service writes it (Server-Sent Events included); neither is held whole in memory.

Failures reaching the service become the API's errors: 503 when it can't be reached, 504 when
it doesn't answer in time, 502 when it answers with something that isn't HTTP."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import anyio
import httpx
import structlog
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway.auth import strip_token_param
from gateway.forwarding import (
    client_response_headers,
    context_headers,
    signed_identity_headers,
    upstream_request_headers,
)
from gateway.paths import has_dot_segment
from gateway.routes import Route, resolve
from gateway.upstreams import Upstream
from microblog_common.errors import error_body
from microblog_common.logging import current_ids

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class UpstreamFailure:
    status: int
    message: str


def failure_for(exc: BaseException, service: str) -> UpstreamFailure:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return UpstreamFailure(504, f"The {service} service did not answer in time")
    if isinstance(exc, httpx.ConnectError | ConnectionRefusedError | FileNotFoundError):
        return UpstreamFailure(503, f"The {service} service is unavailable")
    return UpstreamFailure(502, f"The {service} service sent an invalid response")


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(message), status_code=status)


def raw_target(scope: dict, query: str) -> str:
    """Path and query as the client sent them (still percent-encoded), minus any access token."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    return raw_path.decode("latin-1") + ("?" + query if query else "")


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length != "0")


class Proxy:
    def __init__(
        self, client: httpx.AsyncClient, upstreams: dict[str, Upstream], secret: str, timeout: float
    ):
        self.client = client
        self.upstreams = upstreams
        self.secret = secret
        self.timeout = timeout
        # A stream may stay quiet for minutes between events: no read timeout once it started.
        self.streaming_timeout = httpx.Timeout(timeout, connect=client.timeout.connect, read=None)

    def target_for(self, method: str, path: str) -> tuple[Route, Upstream] | None:
        if has_dot_segment(path):
            return None
        matched = resolve(method, path)
        return (matched, self.upstreams[matched.service]) if matched else None

    async def __call__(self, request: Request) -> Response:
        path = request.url.path
        found = self.target_for(request.method, path)
        if found is None:
            if has_dot_segment(path):
                return error_response(400, "Invalid path")
            return error_response(404, "Record not found")
        route, upstream = found
        query = strip_token_param(request.scope.get("query_string", b"").decode("latin-1"))
        request_id, correlation_id = current_ids()
        headers = upstream_request_headers(
            request.scope["headers"], keep_basic_auth=path.startswith("/oauth/")
        )
        headers += context_headers(
            client_ip=request.state.client_ip,
            scheme=request.url.scheme,
            host=request.headers.get("host"),
            request_id=request_id,
            correlation_id=correlation_id,
        )
        upstream_request = self.client.build_request(
            request.method,
            upstream.base_url + raw_target(request.scope, query),
            headers=headers,
            content=request.stream() if _has_body(request) else None,
            timeout=self.streaming_timeout if route.streaming else httpx.USE_CLIENT_DEFAULT,
        )
        # Signed over the target exactly as it goes on the wire (after httpx's URL handling).
        upstream_request.headers.update(
            signed_identity_headers(
                self.secret,
                request.method,
                upstream_request.url.raw_path,
                request.state.identity,
                request.state.client_ip,
            )
        )
        try:
            # Streams have no read timeout, so the wait for their first byte is bounded here.
            with anyio.fail_after(self.timeout) if route.streaming else nullcontext():
                upstream_response = await self.client.send(upstream_request, stream=True)
        except ClientDisconnect:
            # The client left mid-upload; raising through httpx aborted the upstream request
            # rather than ending it as if the body were complete. Nobody reads this answer.
            return error_response(400, "The request body was cut short")
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            failure = failure_for(exc, upstream.name)
            log.warning("upstream_failed", service=upstream.name, status=failure.status, error=repr(exc))
            return error_response(failure.status, failure.message)
        public_origin = f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"
        return await self._relay(path, upstream, upstream_response, public_origin)

    async def _relay(
        self, path: str, upstream: Upstream, response: httpx.Response, public_origin: str
    ) -> Response:
        content_type = response.headers.get("content-type", "")
        if response.status_code >= 400 and path.startswith("/api/") and "json" not in content_type:
            # Never an HTML (or plain text) error on /api: keep the status, say it in JSON.
            await response.aclose()
            return error_response(response.status_code, response.reason_phrase or "Request failed")

        async def body():
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            except httpx.HTTPError as exc:
                # The status line is already on its way: all that's left is to cut the connection.
                log.warning("upstream_broke_mid_response", service=upstream.name, error=repr(exc))
                raise
            finally:
                await response.aclose()

        # The background close also covers a client that disconnects mid-stream.
        relayed = StreamingResponse(
            body(), status_code=response.status_code, background=BackgroundTask(response.aclose)
        )
        relayed.raw_headers = client_response_headers(response.headers.raw, upstream.base_url, public_origin)
        return relayed
