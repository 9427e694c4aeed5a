"""Who is calling: the access token a request carries, and the pluggable check that turns it into
a verified identity.

The gateway is the only place tokens are checked. Services never see the token: they trust the
identity headers the gateway signs (microblog_common.internal_auth)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl

from microblog_common.internal_auth import Identity

__all__ = ["Authenticator", "Identity", "extract_token"]

QUERY_TOKEN_PARAM = "access_token"  # noqa: S105 (a parameter name, not a secret)


@runtime_checkable
class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Identity | None:
        """The verified identity behind `token`, or None when the token is not valid."""
        ...


def extract_token(headers: dict[str, str], query_string: str, *, websocket: bool = False) -> str | None:
    """The access token, where Mastodon clients put it: `Authorization: Bearer`, else the
    `access_token` query parameter (EventSource and WebSocket can't set headers), else for a
    WebSocket the `Sec-WebSocket-Protocol` header (what Mastodon's web client does)."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for key, param in parse_qsl(query_string, keep_blank_values=True):
        if key == QUERY_TOKEN_PARAM and param:
            return param
    if websocket:
        protocol = headers.get("sec-websocket-protocol", "").strip()
        if protocol and "," not in protocol:
            return protocol
    return None


def strip_token_param(query_string: str) -> str:
    """The query string without `access_token`, left byte-for-byte as it was when absent."""
    if QUERY_TOKEN_PARAM not in query_string:
        return query_string
    kept = [part for part in query_string.split("&") if part.partition("=")[0] != QUERY_TOKEN_PARAM]
    return "&".join(kept)
