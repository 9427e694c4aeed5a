"""Signing up, in and out, and resetting a password.

Signing in leaves for the API's own sign-in and consent page (`/oauth/authorize`, the
authorization-code flow with PKCE) and comes back to `/auth/callback` with a code, exchanged
here for a token that never reaches the browser: the browser only holds the session cookie."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter
from fastapi.responses import Response
from itsdangerous import BadSignature

from web.api.client import ApiError
from web.api.oauth import SCOPES, PendingSignIn
from web.i18n import gettext as _
from web.messages import field_errors, summary
from web.page import SESSION_COOKIE, FormDep, Page, PageDep, safe_next, text

log = structlog.get_logger(__name__)
router = APIRouter()

PENDING_COOKIE = "microblog_sign_in"
PENDING_SECONDS = 15 * 60


@router.get("/auth/sign_in")
async def sign_in(page: PageDep, next: str | None = None) -> Response:
    destination = safe_next(next)
    if page.viewer is not None:
        return page.redirect(destination)
    public_url = page.runtime.settings.public_url
    forwarded = _request_origin(page)
    if forwarded is not None and forwarded != public_url.lower():
        # The OAuth redirect URI is on the public origin: start there, so the sign-in's cookie
        # and the callback meet (someone browsing by another name of the host, e.g. localhost).
        return page.redirect(f"{public_url}/auth/sign_in?next={quote(destination, safe='')}")
    client = await page.runtime.oauth.client(page.db)
    pending = PendingSignIn.new(destination)
    response = page.redirect(page.runtime.oauth.authorize_url(client, pending, page.locale))
    value = page.runtime.keys.serializer("sign-in").dumps(pending.as_dict())
    page.set_cookie(response, PENDING_COOKIE, value, max_age=PENDING_SECONDS)
    return response


def _request_origin(page: Page) -> str | None:
    host = page.request.headers.get("x-forwarded-host")
    proto = page.request.headers.get("x-forwarded-proto", "http")
    return f"{proto}://{host}".lower() if host else None


def _pending(page: Page) -> PendingSignIn | None:
    raw = page.request.cookies.get(PENDING_COOKIE)
    if not raw:
        return None
    try:
        data = page.runtime.keys.serializer("sign-in").loads(raw, max_age=PENDING_SECONDS)
        return PendingSignIn(str(data["state"]), str(data["verifier"]), safe_next(str(data["next"])))
    except (BadSignature, KeyError, TypeError):
        return None


async def _start_session(page: Page, token: str, scopes: str, destination: str, notice: str) -> Response:
    account = await page.runtime.api.get(
        "/api/v1/accounts/verify_credentials", token=token, client_ip=page.client_ip
    )
    cookie = await page.runtime.sessions.create(page.db, account.data, token, scopes, locale=page.locale)
    response = page.redirect(destination, notice=notice)
    page.set_cookie(
        response, SESSION_COOKIE, cookie, max_age=int(page.runtime.settings.session_lifetime_days * 86400)
    )
    return response


@router.get("/auth/callback")
async def callback(
    page: PageDep, code: str | None = None, state: str | None = None, error: str | None = None
) -> Response:
    pending = _pending(page)
    response: Response
    if error:
        response = page.redirect("/", alert=_("Signing in was cancelled."))
    elif pending is None or not code or state != pending.state:
        return await page.render(
            "error.html",
            {
                "title": _("Signing in did not finish"),
                "message": _("The sign-in took too long or was started in another window. Please try again."),
                "retry": "/auth/sign_in",
            },
            400,
        )
    else:
        try:
            token = await page.runtime.oauth.exchange(page.db, code, pending.verifier, page.client_ip)
        except ApiError:
            return await page.render(
                "error.html",
                {
                    "title": _("Signing in did not finish"),
                    "message": _("The sign-in link was already used or has expired. Please try again."),
                    "retry": "/auth/sign_in",
                },
                400,
            )
        response = await _start_session(
            page, token["access_token"], str(token.get("scope") or SCOPES), pending.next, _("Welcome back!")
        )
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


# -- signing up ----------------------------------------------------------------------------


@router.get("/auth/sign_up")
async def sign_up_form(page: PageDep) -> Response:
    if page.viewer is not None:
        return page.redirect("/home")
    return await page.render("auth/sign_up.html", {"values": {}, "errors": {}})


@router.post("/auth/sign_up")
async def sign_up(page: PageDep, form: FormDep) -> Response:
    values = {name: text(form, name).strip() for name in ("username", "email")}
    password = text(form, "password")
    errors: dict[str, list[str]] = {}
    if password != text(form, "password_confirmation"):
        errors["password_confirmation"] = [_("The two passwords are not the same.")]
    if not form.get("agreement"):
        errors["agreement"] = [_("Please accept the rules to create an account.")]
    if errors:
        return await page.render(
            "auth/sign_up.html",
            {"values": values, "errors": errors, "problem": _("Please correct the fields marked below.")},
            422,
        )
    data: dict[str, Any] = {**values, "password": password, "agreement": "true", "locale": page.locale}
    oauth = page.runtime.oauth
    try:
        try:
            app_token = await oauth.app_token(page.db)
            answer = await page.runtime.api.post(
                "/api/v1/accounts", token=app_token, client_ip=page.client_ip, data=data
            )
        except ApiError as exc:
            if exc.status != 401:
                raise
            app_token = await oauth.app_token(page.db, fresh=True)  # the cached one was revoked
            answer = await page.runtime.api.post(
                "/api/v1/accounts", token=app_token, client_ip=page.client_ip, data=data
            )
    except ApiError as exc:
        return await page.render(
            "auth/sign_up.html",
            {"values": values, "errors": field_errors(exc), "problem": summary(exc)},
            429 if exc.status == 429 else 422,
        )
    token = answer.data
    return await _start_session(
        page, token["access_token"], str(token.get("scope") or SCOPES), "/home", _("Welcome to Microblog!")
    )


# -- signing out ---------------------------------------------------------------------------


@router.post("/auth/sign_out")
async def sign_out(page: PageDep, form: FormDep) -> Response:
    viewer = page.viewer
    if viewer is not None:
        try:
            await page.runtime.oauth.revoke(page.db, viewer.token)
        except Exception as exc:  # the session ends here all the same; its token is deleted with it
            log.warning("sign_out_revoke_failed", error=repr(exc))
        await page.runtime.sessions.end(page.db, viewer.session_id)
        page.viewer = None
    response = page.redirect("/", notice=_("You have signed out."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- password reset ------------------------------------------------------------------------


@router.get("/auth/reset")
async def reset_form(page: PageDep, token: str | None = None) -> Response:
    if token:
        return await page.render("auth/reset_confirm.html", {"token": token, "errors": {}})
    return await page.render("auth/reset_request.html", {"email": "", "errors": {}})


@router.post("/auth/reset")
async def reset_request(page: PageDep, form: FormDep) -> Response:
    email = text(form, "email").strip()
    if not email:
        return await page.render(
            "auth/reset_request.html",
            {"email": email, "errors": {"email": [_("Enter your email address.")]}},
            422,
        )
    try:
        await page.post("/api/v1/auth/password_reset", data={"email": email})
    except ApiError as exc:
        return await page.render(
            "auth/reset_request.html", {"email": email, "errors": {}, "problem": summary(exc)}, exc.status
        )
    return await page.render("auth/reset_sent.html", {"email": email})


@router.post("/auth/reset/confirm")
async def reset_confirm(page: PageDep, form: FormDep) -> Response:
    token = text(form, "token")
    password = text(form, "password")
    if password != text(form, "password_confirmation"):
        return await page.render(
            "auth/reset_confirm.html",
            {"token": token, "errors": {"password_confirmation": [_("The two passwords are not the same.")]}},
            422,
        )
    try:
        await page.post("/api/v1/auth/password_reset/confirm", data={"token": token, "password": password})
    except ApiError as exc:
        errors = field_errors(exc)
        problem = (
            _("This link has expired or was already used. Ask for a new one.")
            if "token" in errors or not errors
            else summary(exc)
        )
        return await page.render(
            "auth/reset_confirm.html", {"token": token, "errors": errors, "problem": problem}, 422
        )
    if page.viewer is not None:  # a reset signs the account out everywhere, this browser too
        await page.runtime.sessions.end(page.db, page.viewer.session_id)
    response = page.redirect("/", notice=_("Your password has been changed. Sign in with your new password."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
