"""What crosses the gateway in each direction, header by header.

Towards a service: the client's headers minus hop-by-hop ones, minus every identity or internal
header a client could forge, minus its access token; plus the verified identity, the client's
address, the request and correlation ids, and the HMAC signature over all of them.
Towards the client: the service's headers minus hop-by-hop ones and those the gateway sets."""

from __future__ import annotations

from microblog_common.internal_auth import (
    HEADER_APP_ID,
    HEADER_APP_RECORD_ID,
    HEADER_CLIENT_IP,
    HEADER_SCOPES,
    HEADER_TOKEN_ID,
    HEADER_USER_ID,
    Identity,
    is_forbidden_client_header,
    sign_request,
    signing_target,
)
from microblog_common.request_context import HEADER_CORRELATION_ID, HEADER_REQUEST_ID
from microblog_common.tracing import current_trace_context

# RFC 9110 §7.6.1, plus the proxy-era names still seen in the wild.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the gateway itself, or meaningless past it.
_NOT_FORWARDED_UPSTREAM = frozenset(
    {
        "host",
        "expect",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-real-ip",
        HEADER_REQUEST_ID,
        HEADER_CORRELATION_ID,
        # The trace starts at the edge: a client's trace context is not continued.
        "traceparent",
        "tracestate",
    }
)
_WEBSOCKET_HANDSHAKE_PREFIX = "sec-websocket-"
# The gateway's server writes its own; the rate-limit and request-id headers are the gateway's.
_NOT_RETURNED = frozenset({"server", "date", "x-request-id"})


def _connection_tokens(headers: list[tuple[str, str]]) -> set[str]:
    """Headers a sender named in `Connection` are hop-by-hop too."""
    tokens: set[str] = set()
    for name, value in headers:
        if name == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def _header_value(raw: bytes) -> str:
    """As text that the clients towards the services (aiohttp, websockets) encode back into the
    same bytes: they write UTF-8. Bytes that aren't UTF-8 can't pass unchanged either way."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def upstream_request_headers(
    client_headers: list[tuple[bytes, bytes]], *, keep_basic_auth: bool = False, websocket: bool = False
) -> list[tuple[str, str]]:
    decoded = [(k.decode("latin-1").lower(), _header_value(v)) for k, v in client_headers]
    drop = HOP_BY_HOP | _NOT_FORWARDED_UPSTREAM | _connection_tokens(decoded)
    kept = []
    for name, value in decoded:
        if name in drop or is_forbidden_client_header(name):
            continue
        if name == "authorization" and not (keep_basic_auth and value[:6].lower() == "basic "):
            # Services trust the signed identity, never a token. Basic credentials are an OAuth
            # client's own (RFC 6749 §2.3.1) and go to the OAuth endpoints only.
            continue
        if websocket and (name.startswith(_WEBSOCKET_HANDSHAKE_PREFIX) or name == "content-length"):
            continue  # the gateway's own WebSocket client makes its own handshake
        kept.append((name, value))
    return kept


def context_headers(
    *, client_ip: str, scheme: str, host: str | None, request_id: str | None, correlation_id: str | None
) -> list[tuple[str, str]]:
    headers = [("x-forwarded-for", client_ip), ("x-forwarded-proto", scheme)]
    if host:
        headers.append(("x-forwarded-host", host))
    if request_id:
        headers.append((HEADER_REQUEST_ID, request_id))
        headers.append((HEADER_CORRELATION_ID, correlation_id or request_id))
    headers.extend(current_trace_context().items())  # nothing when tracing is off
    return headers


def identity_headers(identity: Identity | None, client_ip: str) -> dict[str, str]:
    headers = {HEADER_CLIENT_IP: client_ip}
    if identity is not None:
        headers.update(
            {
                HEADER_USER_ID: str(identity.user_id) if identity.user_id is not None else "",
                HEADER_SCOPES: " ".join(sorted(identity.scopes)),
                HEADER_APP_ID: identity.app_id or "",
                HEADER_TOKEN_ID: identity.token_id or "",
                HEADER_APP_RECORD_ID: str(identity.application_id) if identity.application_id else "",
            }
        )
    return headers


def signed_identity_headers(
    secret: str, method: str, raw_target: bytes, identity: Identity | None, client_ip: str
) -> dict[str, str]:
    return sign_request(secret, method, signing_target(raw_target), identity_headers(identity, client_ip))


def client_response_headers(
    upstream_headers: list[tuple[bytes, bytes]],
    upstream_origin: str,
    public_origin: str,
    *,
    keep_rate_limits: bool = False,
) -> list[tuple[bytes, bytes]]:
    """A redirect a service addressed to its own internal origin is pointed at the public one
    (what nginx's default `proxy_redirect` does). A service's rate-limit headers are the
    gateway's to set, except on a 429 the service itself answered (`keep_rate_limits`)."""
    decoded = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in upstream_headers]
    drop = HOP_BY_HOP | _NOT_RETURNED | _connection_tokens(decoded)
    internal = upstream_origin.encode("latin-1")
    kept = []
    for name, value in upstream_headers:
        lower = name.decode("latin-1").lower()
        if lower in drop or (lower.startswith("x-ratelimit-") and not keep_rate_limits):
            continue
        if lower == "location" and value.startswith(internal):
            value = public_origin.encode("latin-1") + value[len(internal) :]
        kept.append((lower.encode("latin-1"), value))
    return kept
