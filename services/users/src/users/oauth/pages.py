"""The server-rendered sign-in and consent pages: plain HTML forms, no JavaScript, styled like the
web UI (whose sign-in page this is), in English or Spanish.

CSRF protection is a double-submit cookie: the page sets a random cookie and puts an HMAC of it in
the form; a POST must bring both, and only a page served by us can know the HMAC.

The language: `lang` in the query (Mastodon's parameter; the web UI sends its own) or the form,
else the web UI's language cookie, else the browser's `Accept-Language`, else English."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from users.runtime import Runtime

CSRF_COOKIE = "microblog_oauth_csrf"
CSRF_FIELD = "authenticity_token"

LANGUAGES = {"en": "English", "es": "Español"}
# The web UI's cookie holding the language someone chose there.
LOCALE_COOKIE = "microblog_locale"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Sign in",
        "heading": "Sign in",
        "authorize_heading": "Sign in to continue to {app}",
        "asks_for": "{app} will be able to:",
        "username": "Email address or username",
        "password": "Password",
        "approve": "Sign in",
        "deny": "Cancel",
        "forgot": "Forgot your password?",
        "no_account": "No account yet?",
        "sign_up": "Create one",
        "language": "Language",
        "change": "Change",
        "expired": "The form expired. Please sign in again.",
        "invalid": "Invalid email address (or username) or password.",
        "code_title": "Authorization code",
        "code_help": "Copy this code and paste it into the application.",
        "error_title": "An error has occurred",
        "read": "Read all your account's data",
        "write": "Modify all your account's data",
        "follow": "Modify account relationships",
        "push": "Receive your push notifications",
        "profile": "Read only your account's profile information",
        "read:": "Read {what}",
        "write:": "Modify {what}",
        "other:": "Use {what}",
    },
    "es": {
        "title": "Iniciar sesión",
        "heading": "Iniciar sesión",
        "authorize_heading": "Inicia sesión para continuar en {app}",
        "asks_for": "{app} podrá:",
        "username": "Correo electrónico o nombre de usuario",
        "password": "Contraseña",
        "approve": "Iniciar sesión",
        "deny": "Cancelar",
        "forgot": "¿Olvidaste tu contraseña?",
        "no_account": "¿Todavía no tienes cuenta?",
        "sign_up": "Crea una",
        "language": "Idioma",
        "change": "Cambiar",
        "expired": "El formulario caducó. Inicia sesión de nuevo.",
        "invalid": "Correo electrónico (o nombre de usuario) o contraseña incorrectos.",
        "code_title": "Código de autorización",
        "code_help": "Copia este código y pégalo en la aplicación.",
        "error_title": "Se produjo un error",
        "read": "Leer todos los datos de tu cuenta",
        "write": "Modificar todos los datos de tu cuenta",
        "follow": "Modificar las relaciones de tu cuenta",
        "push": "Recibir tus notificaciones push",
        "profile": "Leer solo la información del perfil de tu cuenta",
        "read:": "Leer {what}",
        "write:": "Modificar {what}",
        "other:": "Usar {what}",
    },
}


def page_language(request: Request, submitted: str | None = None) -> str:
    for candidate in (submitted, request.query_params.get("lang"), request.cookies.get(LOCALE_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    for part in request.headers.get("accept-language", "").split(","):
        primary = part.split(";")[0].strip().split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return "en"


def texts(language: str) -> dict[str, str]:
    return TEXTS.get(language, TEXTS["en"])


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


def describe_scopes(scopes: str, language: str = "en") -> list[tuple[str, str]]:
    words = texts(language)
    described = []
    for scope in scopes.split():
        top, _, what = scope.partition(":")
        if scope in SCOPE_DESCRIPTIONS:
            text = words[scope]
        else:
            text = words[f"{top}:" if top in ("read", "write") else "other:"].format(what=what or top)
        described.append((scope, text))
    return described


def render(
    runtime: Runtime, request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Renders `template`; pages with a form get a fresh CSRF cookie and token."""
    cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    language = str(context.get("lang") or page_language(request))
    switch = {code: name for code, name in LANGUAGES.items() if code != language}
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    page = runtime.templates.get_template(template).render(
        **{**context, "lang": language},
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token_for(runtime, cookie),
        t=texts(language),
        switch_links=[
            (code, name, f"{request.url.path}?{urlencode({**query, 'lang': code})}")
            for code, name in switch.items()
        ],
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
