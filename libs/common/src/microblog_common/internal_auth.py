"""Trust between the gateway and the services.

The gateway removes every identity header a client sent, sets the verified ones, and signs them
(with the method, path and a timestamp) using HMAC-SHA256 and the shared INTERNAL_SECRET.
Services refuse any request whose signature is missing, stale or wrong, so identity headers sent
straight to a service (bypassing the gateway) count for nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import unquote

from fastapi import Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from microblog_common.errors import Forbidden, Unauthorized, Unprocessable, error_body

HEADER_USER_ID = "x-user-id"
HEADER_SCOPES = "x-user-scopes"
HEADER_APP_ID = "x-app-id"  # the OAuth client_id
HEADER_APP_RECORD_ID = "x-app-record-id"  # the application's numeric id (Mastodon's application_id)
HEADER_TOKEN_ID = "x-token-id"  # noqa: S105 - a header name, not a secret
HEADER_CLIENT_IP = "x-client-ip"
HEADER_TIMESTAMP = "x-internal-timestamp"
HEADER_SIGNATURE = "x-internal-signature"
# A part of the system calling the gateway on a client's behalf (the web UI) names that client's
# address in these, signed; the gateway then counts the request (rate limits) as the client's.
HEADER_FORWARDED_CLIENT_IP = "x-internal-client-ip"
HEADER_FORWARDED_CLIENT_SIGNATURE = "x-internal-client-signature"

# Signed, in this order. Every one of them is stripped from client requests by the gateway.
SIGNED_IDENTITY_HEADERS = (
    HEADER_USER_ID,
    HEADER_SCOPES,
    HEADER_APP_ID,
    HEADER_TOKEN_ID,
    HEADER_CLIENT_IP,
    HEADER_APP_RECORD_ID,
)
INTERNAL_HEADERS = (*SIGNED_IDENTITY_HEADERS, HEADER_TIMESTAMP, HEADER_SIGNATURE)
# Prefixes no client may send: anything that could be mistaken for identity or internal trust.
FORBIDDEN_CLIENT_HEADER_PREFIXES = ("x-user-", "x-internal-", "x-app-", "x-token-", "x-client-ip")


def is_forbidden_client_header(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(FORBIDDEN_CLIENT_HEADER_PREFIXES)


def _message(method: str, target: str, timestamp: str, identity: dict[str, str]) -> bytes:
    parts = [timestamp, method.upper(), target, *(identity.get(h, "") for h in SIGNED_IDENTITY_HEADERS)]
    return "\n".join(parts).encode()


def signing_target(raw_target: bytes) -> str:
    """The path and query as the service will see them, for a request sent as `raw_target`: ASGI
    servers percent-decode the path (`scope["path"]`) and leave the query string as sent."""
    raw_path, sep, query = raw_target.decode("latin-1").partition("?")
    return unquote(raw_path) + (sep + query if query else "")


def sign_request(
    secret: str, method: str, target: str, identity: dict[str, str], now: float | None = None
) -> dict[str, str]:
    """Headers to add to a forwarded request. `target` is the path plus query string."""
    timestamp = str(int(now if now is not None else time.time()))
    mac = hmac.new(secret.encode(), _message(method, target, timestamp, identity), hashlib.sha256).hexdigest()
    return {**{k: v for k, v in identity.items() if v}, HEADER_TIMESTAMP: timestamp, HEADER_SIGNATURE: mac}


def verify_request(
    secret: str, method: str, target: str, headers: dict[str, str], max_age: int, now: float | None = None
) -> bool:
    timestamp = headers.get(HEADER_TIMESTAMP, "")
    signature = headers.get(HEADER_SIGNATURE, "")
    if not timestamp.isdigit() or not signature:
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > max_age:
        return False
    expected = hmac.new(
        secret.encode(), _message(method, target, timestamp, headers), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)


def _client_address_message(method: str, target: str, timestamp: str, address: str) -> bytes:
    # Its own label, so no other signed message (a forwarded request's) can stand in for one.
    return "\n".join(("client-address", timestamp, method.upper(), target, address)).encode()


def sign_client_address(
    secret: str, method: str, target: str, address: str, now: float | None = None
) -> dict[str, str]:
    """Headers for a request to the gateway made on behalf of the client at `address` (`target`:
    the path plus query, as `signing_target` gives it). Both start with `x-internal-`, so the
    gateway never passes them on."""
    timestamp = str(int(now if now is not None else time.time()))
    mac = hmac.new(
        secret.encode(), _client_address_message(method, target, timestamp, address), hashlib.sha256
    ).hexdigest()
    return {HEADER_FORWARDED_CLIENT_IP: address, HEADER_FORWARDED_CLIENT_SIGNATURE: f"{timestamp}.{mac}"}


def verified_client_address(
    secret: str, method: str, target: str, headers: dict[str, str], max_age: int, now: float | None = None
) -> str | None:
    """The client address a request names in its signed headers, or None when it names none or
    the signature is missing, stale or wrong (then the caller's own address counts)."""
    address = headers.get(HEADER_FORWARDED_CLIENT_IP, "")
    timestamp, _, signature = headers.get(HEADER_FORWARDED_CLIENT_SIGNATURE, "").partition(".")
    if not address or not timestamp.isdigit() or not signature:
        return None
    if abs((now if now is not None else time.time()) - int(timestamp)) > max_age:
        return None
    expected = hmac.new(
        secret.encode(), _client_address_message(method, target, timestamp, address), hashlib.sha256
    ).hexdigest()
    return address if hmac.compare_digest(expected, signature) else None


class InternalAuthMiddleware:
    """Pure ASGI (so streaming responses pass untouched). Health endpoints stay open for probes."""

    def __init__(
        self, app: ASGIApp, secret: str, max_age: int = 60, open_prefixes: tuple[str, ...] = ("/health/",)
    ):
        self.app = app
        self.secret = secret
        self.max_age = max_age
        self.open_prefixes = open_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(self.open_prefixes):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        target = scope["path"] + (
            ("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else ""
        )
        method = scope.get("method", "GET")
        if verify_request(self.secret, method, target, headers, self.max_age):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps(error_body("This service only accepts requests through the gateway")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Identity:
    """Who is calling, as verified by the gateway. `user_id` is None for app-only tokens."""

    user_id: int | None
    scopes: frozenset[str]
    app_id: str | None  # the OAuth client_id
    token_id: str | None
    # The application's numeric id (what Mastodon shows as `application_id`), when the token says.
    application_id: int | None = None

    def has_scope(self, required: str) -> bool:
        """Mastodon's scope rules: `read` covers `read:statuses`, and so on."""
        if required in self.scopes:
            return True
        top = required.split(":", 1)[0]
        return top in self.scopes and top != required


def identity_from_request(request: Request) -> Identity | None:
    token_id = request.headers.get(HEADER_TOKEN_ID)
    if not token_id:
        return None
    user_id = request.headers.get(HEADER_USER_ID)
    application_id = request.headers.get(HEADER_APP_RECORD_ID)
    return Identity(
        user_id=int(user_id) if user_id and user_id.isdigit() else None,
        scopes=frozenset(request.headers.get(HEADER_SCOPES, "").split()),
        app_id=request.headers.get(HEADER_APP_ID) or None,
        token_id=token_id,
        application_id=int(application_id) if application_id and application_id.isdigit() else None,
    )


def client_ip(request: Request) -> str | None:
    return request.headers.get(HEADER_CLIENT_IP)


async def _optional_identity(request: Request) -> Identity | None:
    return identity_from_request(request)


AUTH_REQUIRED = "required"
AUTH_OPTIONAL = "optional"
F = TypeVar("F", bound=Callable[..., Any])


def _documented(dependency: F, auth: str, scopes: tuple[str, ...]) -> F:
    """Marks the dependency with what it asks of the token, for the OpenAPI document's `security`
    (`microblog_common.openapi`)."""
    dependency.__microblog_auth__ = (auth, scopes)  # type: ignore[attr-defined]
    return dependency


def require_user(*scopes: str) -> Callable[[Request], Awaitable[Identity]]:
    """Dependency factory: a signed-in user holding one of `scopes` (any of them, as Mastodon).
    These dependencies are `async def` though they only read headers: FastAPI runs a plain `def`
    dependency in a worker thread, a hop that costs more than the check."""

    async def dependency(request: Request) -> Identity:
        identity = identity_from_request(request)
        if identity is None:
            raise Unauthorized("The access token is invalid")
        _check_scopes(identity, scopes)
        # Mastodon's `require_user!`: a valid app-only token (client_credentials) is no one.
        if identity.user_id is None:
            raise Unprocessable("This method requires an authenticated user")
        return identity

    return _documented(dependency, AUTH_REQUIRED, scopes)


def _check_scopes(identity: Identity, scopes: tuple[str, ...]) -> None:
    if scopes and not any(identity.has_scope(s) for s in scopes):
        raise Forbidden("This action is outside the authorized scopes")


def require_token(*scopes: str) -> Callable[[Request], Awaitable[Identity]]:
    """Any valid token, user or app-only, holding one of `scopes`."""

    async def dependency(request: Request) -> Identity:
        identity = identity_from_request(request)
        if identity is None:
            raise Unauthorized("The access token is invalid")
        _check_scopes(identity, scopes)
        return identity

    return _documented(dependency, AUTH_REQUIRED, scopes)


def optional_token(*scopes: str) -> Callable[[Request], Awaitable[Identity | None]]:
    """Mastodon's `authorize_if_got_token!`: anonymous is fine, a token must hold one of `scopes`."""

    async def dependency(request: Request) -> Identity | None:
        identity = identity_from_request(request)
        if identity is not None:
            _check_scopes(identity, scopes)
        return identity

    return _documented(dependency, AUTH_OPTIONAL, scopes)


def require_internal_caller(request: Request) -> None:
    """Endpoints one service calls for itself (the revocation feed, the exports): signed like every
    request, and refused when they carry a user's identity (a client's token reached them)."""
    if identity_from_request(request) is not None:
        raise Forbidden("This endpoint is for the services themselves")


OptionalIdentity = Annotated[Identity | None, Depends(_optional_identity)]
