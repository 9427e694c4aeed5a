"""Settings: the profile (name, bio, avatar and header uploads), posting defaults and the
interface language, email notifications, the applications that may use the account; and the
language switch every page has."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from web import i18n
from web.api.client import ApiError, ApiUnavailable
from web.i18n import gettext as _
from web.messages import field_errors, summary
from web.page import LOCALE_COOKIE, YEAR, FormDep, Page, PageDep, safe_next, text
from web.pages.compose import visibility_names

router = APIRouter()

EMAIL_KINDS = ("follow", "mention", "favourite")


async def _me(page: Page) -> dict[str, Any]:
    me: dict[str, Any] = (await page.get("/api/v1/accounts/verify_credentials")).data
    return me


@router.get("/settings")
async def settings_index(page: PageDep) -> Response:
    page.require_viewer()
    return page.redirect("/settings/profile")


# -- profile -------------------------------------------------------------------------------


@router.get("/settings/profile")
async def profile_form(page: PageDep) -> Response:
    page.require_viewer()
    me = await _me(page)
    values = {"display_name": me.get("display_name", ""), "note": (me.get("source") or {}).get("note", "")}
    return await page.render(
        "settings/profile.html",
        {"me": me, "values": values, "errors": {}, "section": "profile", "nav": "settings"},
    )


async def _upload(form: FormData, name: str) -> tuple[str, bytes, str] | None:
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    body = await upload.read()
    return (upload.filename, body, upload.content_type or "application/octet-stream") if body else None


@router.post("/settings/profile")
async def save_profile(page: PageDep, form: FormDep) -> Response:
    page.require_viewer()
    values = {"display_name": text(form, "display_name"), "note": text(form, "note")}
    files = {name: upload for name in ("avatar", "header") if (upload := await _upload(form, name))}
    try:
        answer = await page.api(
            "PATCH", "/api/v1/accounts/update_credentials", data=values, files=files or None
        )
    except ApiError as exc:
        me = await _me(page)
        return await page.render(
            "settings/profile.html",
            {
                "me": me,
                "values": values,
                "errors": field_errors(exc),
                "problem": summary(exc),
                "section": "profile",
                "nav": "settings",
            },
            422,
        )
    await page.runtime.sessions.update_profile(page.db, answer.data)
    return page.redirect("/settings/profile", notice=_("Your profile has been saved."))


# -- preferences: posting defaults, interface language ---------------------------------------


@router.get("/settings/preferences")
async def preferences_form(page: PageDep) -> Response:
    page.require_viewer()
    me = await _me(page)
    source = me.get("source") or {}
    return await page.render(
        "settings/preferences.html",
        {
            "section": "preferences",
            "nav": "settings",
            "values": {
                "privacy": source.get("privacy") or "public",
                "sensitive": bool(source.get("sensitive")),
                "language": source.get("language") or "",
                "locale": page.locale,
            },
            "visibilities": {k: v for k, v in visibility_names().items() if k != "direct"},
            "languages": {code: i18n.language_name(code) for code in i18n.POST_LANGUAGES},
        },
    )


@router.post("/settings/preferences")
async def save_preferences(page: PageDep, form: FormDep) -> Response:
    viewer = page.require_viewer()
    data = {
        "source[privacy]": text(form, "privacy") or "public",
        "source[sensitive]": "true" if form.get("sensitive") else "false",
        "source[language]": text(form, "language"),
    }
    answer = await page.api("PATCH", "/api/v1/accounts/update_credentials", data=data)
    await page.runtime.sessions.update_profile(page.db, answer.data)
    locale = i18n.supported(text(form, "locale"))
    if locale:
        await page.runtime.sessions.set_locale(page.db, viewer.account_id, locale)
        i18n.set_locale(locale)
    response = page.redirect("/settings/preferences", notice=_("Your preferences have been saved."))
    if locale:
        page.set_cookie(response, LOCALE_COOKIE, locale, max_age=YEAR)
    return response


# -- email notifications -------------------------------------------------------------------


@router.get("/settings/notifications")
async def email_form(page: PageDep) -> Response:
    page.require_viewer()
    problem = None
    try:
        preferences = (await page.get("/api/v1/notifications/email_preferences")).data
    except ApiUnavailable:
        preferences, problem = None, _("Email settings are unavailable right now.")
    return await page.render(
        "settings/notifications.html",
        {"section": "notifications", "nav": "settings", "preferences": preferences, "problem": problem},
        503 if problem else 200,
    )


@router.post("/settings/notifications")
async def save_email(page: PageDep, form: FormDep) -> Response:
    page.require_viewer()
    data = {kind: "true" if form.get(kind) else "false" for kind in EMAIL_KINDS}
    await page.api("PATCH", "/api/v1/notifications/email_preferences", data=data)
    return page.redirect("/settings/notifications", notice=_("Your email settings have been saved."))


# -- authorised applications ----------------------------------------------------------------


@router.get("/settings/applications")
async def applications(page: PageDep) -> Response:
    page.require_viewer()
    apps = (await page.get("/oauth/authorized_applications")).data or []
    return await page.render(
        "settings/applications.html", {"section": "applications", "nav": "settings", "apps": apps}
    )


@router.post("/settings/applications/{application_id:int}/revoke")
async def revoke_application(page: PageDep, form: FormDep, application_id: int) -> Response:
    page.require_viewer()
    await page.api("DELETE", f"/oauth/authorized_applications/{application_id}")
    return page.redirect(
        "/settings/applications", notice=_("The application no longer has access to your account.")
    )


# -- the language switch -------------------------------------------------------------------


@router.post("/language")
async def switch_language(page: PageDep, form: FormDep) -> Response:
    locale = i18n.supported(text(form, "locale")) or i18n.DEFAULT
    if page.viewer is not None:
        await page.runtime.sessions.set_locale(page.db, page.viewer.account_id, locale)
    i18n.set_locale(locale)
    response = page.redirect(safe_next(text(form, "next"), default="/"))
    page.set_cookie(response, LOCALE_COOKIE, locale, max_age=YEAR)
    return response
