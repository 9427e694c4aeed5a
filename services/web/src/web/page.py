"""What every page shares: who is asking (the session), in which language and time zone, the CSRF
token of its forms, one-time messages, the API called as them, and the answer (a template
rendered, a redirect).

CSRF: every form carries a token made from a secret only this service and the visitor's own
session (or, before signing in, an HttpOnly cookie) know; a POST without the right token, or
whose `Origin` (else `Referer`) is another site, changes nothing (403). The session cookie is
SameSite=Lax on top of that."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature
from starlette.datastructures import FormData

from microblog_common.db import Database
from microblog_common.internal_auth import client_ip
from web import i18n
from web.api.client import ApiError, ApiResponse, ApiUnavailable
from web.runtime import Runtime, RuntimeDep
from web.sessions.service import Viewer

SESSION_COOKIE = "microblog_session"
CSRF_COOKIE = "microblog_csrf"
LOCALE_COOKIE = "microblog_locale"
TZ_COOKIE = "microblog_tz"
FLASH_COOKIE = "microblog_flash"
CSRF_FIELD = "authenticity_token"
YEAR = 365 * 24 * 3600
# Uploads (an avatar) are the largest forms; the gateway refuses bodies over its own limit first.
MAX_FORM_PART_BYTES = 10 * 1024 * 1024


AnyResponse = TypeVar("AnyResponse", bound=Response)


class SignInRequired(Exception):
    """A page only a signed-in person can see: they are sent to sign in, and back here after."""


class CsrfRefused(Exception):
    """A form without a valid token, or posted from another site."""


def safe_next(value: str | None, default: str = "/home") -> str:
    """`?next=` honoured only for a path on this site: never `//host`, `/\\host`, a scheme or a
    host, which would send someone elsewhere after signing in."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ch in value for ch in "\\\r\n\t"):
        return default
    return value


@dataclass
class Flash:
    kind: str  # "notice" or "alert"
    message: str


@dataclass
class Page:
    request: Request
    runtime: Runtime
    viewer: Viewer | None
    locale: str
    time_zone: str | None
    csrf_secret: str
    flash: Flash | None
    # Cookies this answer must set (an anonymous visitor's first CSRF secret, a cleared flash).
    cookies: list[tuple[str, str, int | None]] = field(default_factory=list)
    # The unread notifications count for the header's badge, asked for as soon as the request
    # came in, so it arrives while the page waits for its own data.
    unread: asyncio.Task[int | None] | None = None

    @property
    def db(self) -> Database:
        db: Database = self.request.app.state.db
        return db

    @property
    def client_ip(self) -> str | None:
        return client_ip(self.request)

    @property
    def csrf_token(self) -> str:
        return self.runtime.keys.csrf_token(self.csrf_secret)

    @property
    def here(self) -> str:
        url = self.request.url
        return url.path + (f"?{url.query}" if url.query else "")

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise SignInRequired()
        return self.viewer

    # -- the API, as this visitor ---------------------------------------------------------------

    async def api(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        token = self.viewer.token if self.viewer is not None else None
        return await self.runtime.api.request(method, path, token=token, client_ip=self.client_ip, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return await self.api("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ApiResponse:
        return await self.api("POST", path, **kwargs)

    # -- answers -----------------------------------------------------------------------------

    def fetch_unread(self) -> None:
        if self.viewer is not None and self.unread is None:
            self.unread = asyncio.ensure_future(self._unread_count())

    async def _unread_count(self) -> int | None:
        try:
            answer = await self.get("/api/v1/notifications/unread_count")
        except (ApiError, ApiUnavailable):
            return None  # the badge is left out; the page itself doesn't depend on it
        count = answer.data.get("count") if isinstance(answer.data, dict) else None
        return int(count) if isinstance(count, int) else None

    async def render(
        self, template: str, context: dict[str, Any] | None = None, status_code: int = 200
    ) -> HTMLResponse:
        unread = None
        if self.unread is not None:
            with contextlib.suppress(Exception):
                unread = await self.unread
        body = self.runtime.templates.get_template(template).render(
            **(context or {}),
            page=self,
            viewer=self.viewer,
            locale=self.locale,
            csrf_field=CSRF_FIELD,
            csrf_token=self.csrf_token,
            flash=self.flash,
            tz=self.time_zone,
            max_characters=self.max_characters,
            unread=unread,
            script_texts=i18n.script_texts(),
        )
        return self.finish(HTMLResponse(body, status_code=status_code))

    def redirect(self, url: str, *, notice: str | None = None, alert: str | None = None) -> RedirectResponse:
        """303 (after a form: the browser GETs the next page). The message shows on that page."""
        response = self.finish(RedirectResponse(url, status_code=303))
        if notice or alert:
            kind, message = ("notice", notice) if notice else ("alert", alert)
            value = self.runtime.keys.serializer("flash").dumps([kind, message])
            self.set_cookie(response, FLASH_COOKIE, value, max_age=60)
        return response

    def finish(self, response: AnyResponse) -> AnyResponse:
        if self.unread is not None and not self.unread.done():
            self.unread.cancel()
        for name, value, max_age in self.cookies:
            self.set_cookie(response, name, value, max_age=max_age)
        return response

    def set_cookie(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=self.runtime.settings.secure_cookies,
            path="/",
        )

    def sign_in_url(self) -> str:
        return "/auth/sign_in?next=" + quote(self.here, safe="")

    @property
    def max_characters(self) -> int:
        instance = self.runtime.instance or {}
        statuses = instance.get("configuration", {}).get("statuses", {})
        return int(statuses.get("max_characters") or 500)


async def page_context(request: Request, runtime: RuntimeDep) -> Page:
    viewer = await runtime.sessions.load(request.app.state.db, request.cookies.get(SESSION_COOKIE))
    locale = (
        (i18n.supported(viewer.locale) if viewer else None)
        or i18n.supported(request.cookies.get(LOCALE_COOKIE))
        or runtime.catalogues.negotiate(request.headers.get("accept-language"))
    )
    i18n.set_locale(locale)
    cookies: list[tuple[str, str, int | None]] = []
    if viewer is not None:
        csrf_secret = viewer.csrf_secret
    else:
        csrf_secret = request.cookies.get(CSRF_COOKIE) or ""
        if len(csrf_secret) < 32:
            csrf_secret = secrets.token_urlsafe(32)
            cookies.append((CSRF_COOKIE, csrf_secret, None))
    flash = None
    if raw := request.cookies.get(FLASH_COOKIE):
        try:
            kind, message = runtime.keys.serializer("flash").loads(raw, max_age=120)
            flash = Flash(str(kind), str(message))
        except (BadSignature, ValueError, TypeError):
            pass
        cookies.append((FLASH_COOKIE, "", 0))
    page = Page(
        request=request,
        runtime=runtime,
        viewer=viewer,
        locale=locale,
        time_zone=request.cookies.get(TZ_COOKIE),
        csrf_secret=csrf_secret,
        flash=flash,
        cookies=cookies,
    )
    request.state.page = page
    # Whole pages show the badge; pieces for our scripts and the live stream don't.
    if (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and not request.headers.get("x-requested-with")
    ):
        page.fetch_unread()
    return page


PageDep = Annotated[Page, Depends(page_context)]


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def allowed_origins(request: Request, public_url: str) -> set[str]:
    """This site's origin: the public one, and the one the gateway says the request was addressed
    to (the browser's Host), which is where a form of ours was loaded from."""
    origins = {public_url.lower()}
    host = request.headers.get("x-forwarded-host")
    proto = request.headers.get("x-forwarded-proto", "http")
    if host:
        origins.add(f"{proto}://{host}".lower())
    return origins


def same_origin(request: Request, public_url: str) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True  # neither sent (some privacy settings): the token alone decides
        origin = _origin_of(referer) or "null"
    return origin.lower() in allowed_origins(request, public_url)


async def checked_form(request: Request, page: PageDep) -> FormData:
    """The posted form, once it is known to come from one of our pages."""
    if not same_origin(request, page.runtime.settings.public_url):
        raise CsrfRefused()
    form = await request.form(max_part_size=MAX_FORM_PART_BYTES)
    submitted = form.get(CSRF_FIELD)
    if not page.runtime.keys.csrf_valid(page.csrf_secret, submitted if isinstance(submitted, str) else None):
        raise CsrfRefused()
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value if isinstance(value, str) else default
