"""Headers on every answer of the web UI: a strict Content Security Policy (our own scripts and
styles only, no inline code, forms posting only here, no framing), and the usual hardening.
Pure ASGI, so the live stream passes untouched."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(image_origins: Iterable[str] = ()) -> str:
    images = " ".join(["'self'", "data:", *image_origins])
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, image_origins: Iterable[str] = ()):
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(image_origins).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(("/health/", "/metrics")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in names)
                if b"cache-control" not in names:
                    # Pages show someone's own data: never kept by a shared cache.
                    headers.append((b"cache-control", b"private, no-cache"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
