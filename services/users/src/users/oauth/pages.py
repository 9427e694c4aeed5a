"""The server-rendered sign-in and consent pages: plain HTML forms, no JavaScript.

CSRF protection is a double-submit cookie: the page sets a random cookie and puts an HMAC of it in
the form; a POST must bring both, and only a page served by us can know the HMAC."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from users.runtime import Runtime

CSRF_COOKIE = "microblog_oauth_csrf"
CSRF_FIELD = "authenticity_token"

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

SCOPE_DESCRIPTIONS = {
    "read": "Read all your account's data",
    "write": "Modify all your account's data",
    "follow": "Modify account relationships",
    "push": "Receive your push notifications",
    "profile": "Read only your account's profile information",
}


def _csrf_key(runtime: Runtime) -> bytes:
    return hashlib.sha256(
        b"oauth-csrf:" + runtime.settings.internal_secret.get_secret_value().encode()
    ).digest()


def csrf_token_for(runtime: Runtime, cookie: str) -> str:
    return hmac.new(_csrf_key(runtime), cookie.encode(), hashlib.sha256).hexdigest()


def csrf_valid(runtime: Runtime, request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(csrf_token_for(runtime, cookie).encode(), submitted.encode())


def describe_scopes(scopes: str) -> list[tuple[str, str]]:
    described = []
    for scope in scopes.split():
        top = scope.split(":", 1)[0]
        text = SCOPE_DESCRIPTIONS.get(scope) or (
            f"{'Read' if top == 'read' else 'Modify' if top == 'write' else 'Use'} {scope.split(':', 1)[-1]}"
        )
        described.append((scope, text))
    return described


def render(
    runtime: Runtime, request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Renders `template`; pages with a form get a fresh CSRF cookie and token."""
    cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    page = runtime.templates.get_template(template).render(
        **context, csrf_field=CSRF_FIELD, csrf_token=csrf_token_for(runtime, cookie)
    )
    response = HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.public_url.startswith("https://"),
        path="/oauth",
    )
    return response
