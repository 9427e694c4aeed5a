"""Who may come in: the client's address, its access token, its rate limits.

Pure ASGI (bodies stream through untouched). For every HTTP request and WebSocket handshake it
authenticates the token (if any), counts the request against the rate limits keyed by the result,
and refuses with 401 or 429 in the API's error format. The verified identity and client address
go on in `scope["state"]` for the proxy; the rate-limit headers go on every answer."""

from __future__ import annotations

import json

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import Authenticator, extract_token
from gateway.ratelimit import RateLimiter
from gateway.routes import resolve
from gateway.tokens import TokenCheckUnavailable
from microblog_common.errors import error_body
from microblog_common.internal_auth import verified_client_address

log = structlog.get_logger(__name__)

UNKNOWN_CLIENT = "unknown"
OPEN_PREFIXES = ("/health/",)


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else UNKNOWN_CLIENT


async def send_error(
    scope: Scope, send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]]
) -> None:
    """An error answer in the API's format, for an HTTP request or (as a WebSocket denial
    response, where the server supports it) a WebSocket handshake."""
    body = json.dumps(error_body(message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        # 1008: policy violation (auth); 1013: try again later (rate limit, unavailable).
        await send({"type": "websocket.close", "code": 1008 if status in (401, 403) else 1013})


def request_target(scope: Scope) -> str:
    """The path and query as `signing_target` gives them for what the caller sent."""
    query: str = scope.get("query_string", b"").decode("latin-1")
    path: str = scope["path"]
    return path + ("?" + query if query else "")


class AccessMiddleware:
    """`secret` (the internal secret) lets a part of the system calling on a client's behalf (the
    web UI) name that client's address, signed (`microblog_common.internal_auth.
    sign_client_address`): the request then counts as the client's, so every browser using the
    web UI keeps its own sign-in and registration limits. An unsigned or badly signed address is
    ignored: the TCP peer (or what TRUSTED_PROXIES says) counts."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        limiter: RateLimiter | None,
        *,
        secret: str | None = None,
        signature_max_age: int = 60,
    ):
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        self.secret = secret
        self.signature_max_age = signature_max_age

    def client_address(self, scope: Scope, headers: dict[str, str]) -> str:
        if self.secret is not None:
            forwarded = verified_client_address(
                self.secret,
                scope.get("method", "GET"),
                request_target(scope),
                headers,
                self.signature_max_age,
            )
            if forwarded is not None:
                return forwarded
        return client_ip(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope.get("method", "GET")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ip = self.client_address(scope, headers)
        token = None
        if not path.startswith(OPEN_PREFIXES):
            token = extract_token(
                headers,
                scope.get("query_string", b"").decode("latin-1"),
                websocket=scope["type"] == "websocket",
            )
        try:
            identity = await self.authenticator.authenticate(token) if token else None
        except TokenCheckUnavailable as exc:
            await send_error(scope, send, 503, str(exc), [])
            return
        state = scope.setdefault("state", {})
        state["client_ip"] = ip
        state["identity"] = identity
        state["token_in_subprotocol"] = (
            bool(token) and token == headers.get("sec-websocket-protocol", "").strip()
        )

        verdict = None
        if self.limiter is not None:
            routed = resolve(method, path) if scope["type"] == "http" else None
            verdict = await self.limiter.check(method, path, ip, identity, routed.service if routed else None)
        rate_headers = verdict.headers() if verdict else []
        if verdict is not None and not verdict.allowed:
            log.info("rate_limited", path=path, client_ip=ip)
            retry = [(b"retry-after", str(verdict.retry_after_seconds()).encode())]
            await send_error(scope, send, 429, "Too many requests", rate_headers + retry)
            return
        if token and identity is None:
            await send_error(scope, send, 401, "The access token is invalid", rate_headers)
            return

        async def send_with_rate_headers(message: Message) -> None:
            if message["type"] in (
                "http.response.start",
                "websocket.http.response.start",
                "websocket.accept",
            ):
                headers = message.get("headers", [])
                # A service that refused on a limit of its own (e.g. translations per account)
                # says which limit: a client waiting for the reset must wait for that one.
                if not (message.get("status") == 429 and _has_rate_headers(headers)):
                    message["headers"] = [*_without_rate_headers(headers), *rate_headers]
            await send(message)

        await self.app(scope, receive, send_with_rate_headers if verdict else send)


def _has_rate_headers(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"x-ratelimit-reset" for k, _ in headers)


def _without_rate_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if not k.lower().startswith(b"x-ratelimit-")]
