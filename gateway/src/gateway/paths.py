"""Trailing slashes are tolerated (API.md) by removing them before anything routes on the path,
so `/api/v1/instance/` is `/api/v1/instance` for the route table, the gateway's own endpoints
and the services alike (a service would otherwise redirect to its own, internal, address)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class TrailingSlashMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            raw_path: bytes | None = scope.get("raw_path")
            if raw_path is not None and raw_path.endswith(b"/"):
                scope["raw_path"] = raw_path.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def has_dot_segment(path: str) -> bool:
    """`/a/../b`: httpx would resolve it after routing, sending the request somewhere the route
    table never chose, so such paths are refused."""
    return any(segment in (".", "..") for segment in path.split("/"))
