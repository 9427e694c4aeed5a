"""Every failure as a page a person understands, in their language, never a stack trace or JSON:
a page that doesn't exist, a form that expired or came from elsewhere, a session that ended,
a service that is down (search, translation: the rest of the site keeps working), the API
refusing something."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from microblog_common.errors import error_body
from web.api.client import ApiError, ApiUnavailable, SignedOut
from web.i18n import gettext as _
from web.page import SESSION_COOKIE, CsrfRefused, Page, SignInRequired, page_context

log = structlog.get_logger(__name__)


async def _page(request: Request) -> Page:
    existing = getattr(request.state, "page", None)
    if isinstance(existing, Page):
        return existing
    return await page_context(request, request.app.state.runtime)


def service_name(service: str | None) -> str:
    names = {
        "search": _("Search"),
        "translate": _("Translation"),
        "notify": _("Notifications"),
        "posts": _("Posts"),
        "users": _("Accounts"),
    }
    return names.get(service or "", "")


async def error_page(request: Request, status: int, title: str, message: str) -> Response:
    page = await _page(request)
    return await page.render("error.html", {"title": title, "message": message, "status": status}, status)


async def _not_found(request: Request) -> Response:
    return await error_page(
        request,
        404,
        _("Page not found"),
        _("There is nothing here. The link may be wrong, or what it pointed to was deleted."),
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith("/api/"):
        return JSONResponse(error_body("Record not found"), status_code=exc.status_code)
    if exc.status_code == 404:
        return await _not_found(request)
    if exc.status_code == 405:
        return await error_page(request, 405, _("Not allowed"), _("This address can't be used that way."))
    return await error_page(
        request,
        exc.status_code,
        _("Something went wrong"),
        _("The request could not be completed. Please try again."),
    )


async def validation_error(request: Request, exc: Exception) -> Response:
    return await error_page(request, 400, _("Bad request"), _("Some of what was sent could not be read."))


async def sign_in_required(request: Request, exc: Exception) -> Response:
    page = await _page(request)
    return page.redirect(page.sign_in_url())


async def csrf_refused(request: Request, exc: Exception) -> Response:
    log.info("csrf_refused", path=request.url.path, origin=request.headers.get("origin"))
    return await error_page(
        request,
        403,
        _("This form could not be sent"),
        _("It was out of date or came from another site. Go back, reload the page and try again."),
    )


async def signed_out(request: Request, exc: Exception) -> Response:
    """The token was refused (revoked elsewhere, password reset): the session ends here too."""
    page = await _page(request)
    if page.viewer is not None:
        await page.runtime.sessions.end(page.db, page.viewer.session_id)
        page.viewer = None
    response = page.redirect(page.sign_in_url(), alert=_("Your session has ended. Please sign in again."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiUnavailable)
    log.warning("api_unavailable", path=request.url.path, service=exc.service, error=exc.message)
    name = service_name(exc.service)
    if name:
        title = _("%(service)s is unavailable right now", service=name)
    else:
        title = _("This page is unavailable right now")
    return await error_page(
        request, 503, title, _("The rest of the site keeps working. Please try again in a few minutes.")
    )


async def api_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.status == 404:
        return await _not_found(request)
    if exc.status == 403:
        return await error_page(request, 403, _("Not allowed"), _("You are not allowed to see or do this."))
    if exc.status == 429:
        return await error_page(
            request,
            429,
            _("Too many requests"),
            _("You have done that too often. Please wait a few minutes."),
        )
    return await error_page(request, exc.status, _("That did not work"), exc.message)


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    try:
        return await error_page(
            request,
            500,
            _("Something went wrong"),
            _("Sorry, something broke on our side. Please try again."),
        )
    except Exception:
        return Response("Something went wrong", status_code=500, media_type="text/plain")


def install_page_errors(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(SignedOut, signed_out)
    app.add_exception_handler(ApiUnavailable, unavailable)
    app.add_exception_handler(ApiError, api_refused)
    app.add_exception_handler(Exception, unexpected)
