"""The route table: which service answers which public path (API.md), as ordered data.

The first entry whose method set and path pattern match wins, so specific entries come before
the broad prefixes they carve out of. Paths reach this table already without a trailing slash
(see `paths.py`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

ANY_METHOD: frozenset[str] | None = None


@dataclass(frozen=True)
class Route:
    service: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None = ANY_METHOD
    # Long-lived responses (Server-Sent Events, WebSocket): no read timeout once they started.
    streaming: bool = False
    # How the entry reads in metrics when its pattern is no template (the web UI's catch-all).
    label: str | None = None

    @property
    def path(self) -> str:
        """The entry as a readable template (`/api/v1/statuses/:id/translate`, `/api/v1/apps/*`):
        the label of the gateway's request metrics, one per entry whatever the path."""
        if self.label is not None:
            return self.label
        return _TEMPLATES.setdefault(self.pattern.pattern, _template(self.pattern.pattern))

    def matches(self, method: str, path: str) -> bool:
        return (self.methods is None or method in self.methods) and self.pattern.fullmatch(path) is not None


_TEMPLATES: dict[str, str] = {}
_ANY_SEGMENT = "[^/]+"
_ANY_BELOW = "(?:/.*)?"


def _template(pattern: str) -> str:
    return pattern.replace(_ANY_BELOW, "/*").replace(_ANY_SEGMENT, ":id").replace("\\", "")


def exact(path: str) -> str:
    return re.escape(path).replace(r"/:id", "/" + _ANY_SEGMENT)


def prefix(path: str) -> str:
    """`path` itself and everything below it (`/api/v1/apps`, `/api/v1/apps/verify_credentials`)."""
    return exact(path) + _ANY_BELOW


def route(
    service: str,
    pattern: str,
    methods: set[str] | None = None,
    *,
    streaming: bool = False,
    label: str | None = None,
) -> Route:
    if methods and "GET" in methods:
        methods = {*methods, "HEAD"}
    return Route(
        service, re.compile(pattern), frozenset(methods) if methods else ANY_METHOD, streaming, label
    )


# Paths that are never a page of the web UI: the API, the gateway's own and the services' private
# ones keep answering JSON (a 404 for an unknown one) rather than the web UI's HTML.
_NOT_PAGES = (
    r"(?!/(?:api|oauth|avatars|system|health|internal|metrics|\.well-known)(?:/|$))"
    r"(?!/instance/thumbnail\.png$)"
)
PAGE_METHODS = {"GET", "POST"}

ROUTES: tuple[Route, ...] = (
    route("translate", exact("/api/v1/statuses/:id/translate"), {"POST"}),
    route("translate", exact("/api/v1/instance/translation_languages"), {"GET"}),
    route("posts", exact("/api/v1/accounts/:id/statuses"), {"GET"}),
    # Before the users service's prefix, which would otherwise take it as an account id.
    route("search", exact("/api/v1/accounts/search"), {"GET"}),
    route("users", prefix("/api/v1/accounts")),
    route("users", prefix("/api/v1/apps")),
    route("users", prefix("/oauth")),
    route("users", exact("/.well-known/oauth-authorization-server"), {"GET"}),
    route("users", prefix("/api/v1/auth")),
    route("users", prefix("/avatars"), {"GET"}),
    route("users", prefix("/system/media"), {"GET"}),
    route("users", prefix("/api/v1/profile")),
    route("posts", prefix("/api/v1/statuses")),
    route("posts", prefix("/api/v1/timelines")),
    route("posts", prefix("/api/v1/scheduled_statuses")),
    route("search", exact("/api/v2/search"), {"GET"}),
    route("notify", prefix("/api/v1/notifications")),
    route("notify", prefix("/api/v2/notifications")),
    route("notify", exact("/api/v1/markers"), {"GET", "POST"}),
    route("notify", exact("/unsubscribe"), {"GET", "POST"}),
    route("notify", prefix("/api/v1/streaming"), streaming=True),
    # The web UI: its live updates (Server-Sent Events), then every other page and static file.
    route("web", exact("/stream"), {"GET"}, streaming=True),
    route("web", _NOT_PAGES + "/.*", PAGE_METHODS, label="/* (web pages)"),
)


def resolve(method: str, path: str, routes: tuple[Route, ...] = ROUTES) -> Route | None:
    method = method.upper()
    for candidate in routes:
        if candidate.matches(method, path):
            return candidate
    return None
