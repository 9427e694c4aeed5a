"""Writing a post: the text with a character count, a content warning, who may see it, its
language, and optionally when to publish it (a date and time in the writer's time zone)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData

from web import i18n
from web.api.client import ApiError
from web.i18n import gettext as _
from web.messages import field_errors, summary
from web.page import FormDep, Page, PageDep, safe_next, text

router = APIRouter()

VISIBILITIES = ("public", "unlisted", "private", "direct")
FIELDS = ("status", "spoiler_text", "visibility", "language", "scheduled_at", "in_reply_to_id")


def visibility_names() -> dict[str, str]:
    return {
        "public": _("Public"),
        "unlisted": _("Unlisted"),
        "private": _("Followers only"),
        "direct": _("Mentioned people only"),
    }


async def compose_defaults(page: Page, **values: str) -> dict[str, Any]:
    """The form's starting values: the writer's posting defaults, a fresh idempotency key (so a
    form sent twice makes one post)."""
    viewer = page.require_viewer()
    profile = viewer.profile
    return {
        "values": {
            "status": "",
            "spoiler_text": "",
            "visibility": profile.get("default_privacy") or "public",
            "language": profile.get("default_language") or page.locale,
            "scheduled_at": "",
            "in_reply_to_id": "",
            **values,
        },
        "errors": {},
        "idempotency_key": uuid.uuid4().hex,
        "visibilities": visibility_names(),
        "languages": {code: i18n.language_name(code) for code in i18n.POST_LANGUAGES},
    }


def scheduled_time(local: str, time_zone: str | None) -> str | None:
    """`2026-12-24T18:30` (a datetime-local field) in the writer's zone, as UTC ISO 8601."""
    if not local:
        return None
    try:
        naive = datetime.fromisoformat(local)
    except ValueError:
        return "invalid"
    if naive.tzinfo is not None:
        return naive.astimezone(UTC).isoformat()
    return naive.replace(tzinfo=i18n.zone(time_zone)).astimezone(UTC).isoformat()


def form_values(form: FormData) -> dict[str, str]:
    return {name: text(form, name) for name in FIELDS}


@router.get("/compose")
async def compose_page(page: PageDep, in_reply_to: str | None = None) -> Response:
    viewer = page.require_viewer()
    context = await compose_defaults(page)
    if in_reply_to:
        replied = await page.get(f"/api/v1/statuses/{in_reply_to}")
        status = replied.data
        own = status["account"]["id"] == str(viewer.account_id)
        mention = "" if own else f"@{status['account']['acct']} "
        context["values"].update(
            in_reply_to_id=status["id"],
            status=mention,
            visibility=status.get("visibility")
            if status.get("visibility") != "public"
            else context["values"]["visibility"],
            spoiler_text=status.get("spoiler_text") or "",
        )
        context["replying_to"] = status
    return await page.render("compose.html", {**context, "nav": "home"})


@router.post("/statuses")
async def create_status(page: PageDep, form: FormDep) -> Response:
    page.require_viewer()
    values = form_values(form)
    time_zone = text(form, "time_zone") or page.time_zone
    data: dict[str, str] = {
        "status": values["status"],
        "spoiler_text": values["spoiler_text"],
        "visibility": values["visibility"] if values["visibility"] in VISIBILITIES else "public",
    }
    if values["language"]:
        data["language"] = values["language"]
    if values["in_reply_to_id"]:
        data["in_reply_to_id"] = values["in_reply_to_id"]
    when = scheduled_time(values["scheduled_at"], time_zone)
    if when == "invalid":
        return await _compose_again(page, form, {"scheduled_at": [_("Pick a date and a time.")]})
    if when:
        data["scheduled_at"] = when
    key = text(form, "idempotency_key")
    try:
        answer = await page.post(
            "/api/v1/statuses", data=data, headers={"Idempotency-Key": key} if key else None
        )
    except ApiError as exc:
        if exc.status == 404 and values["in_reply_to_id"]:
            return await _compose_again(page, form, {}, _("The post you are replying to is gone."))
        return await _compose_again(page, form, _status_errors(exc), summary(exc))
    created = answer.data
    if "scheduled_at" in created and "params" in created:
        moment = i18n.absolute_time(created["scheduled_at"], time_zone)
        return page.redirect("/scheduled", notice=_("Your post will be published on %(when)s.", when=moment))
    destination = safe_next(text(form, "next"), default=f"/@{created['account']['acct']}/{created['id']}")
    return page.redirect(destination, notice=_("Your post is published."))


def _status_errors(error: ApiError) -> dict[str, list[str]]:
    errors = field_errors(error)
    if not errors and error.status == 422:
        # The posts service names the problem in its message ("Validation failed: Text ...").
        lowered = error.message.lower()
        if "scheduled" in lowered:
            errors["scheduled_at"] = [_("Pick a time at least five minutes from now.")]
        elif "too long" in lowered or "characters" in lowered:
            errors["status"] = [_("Your post is too long.")]
        elif "blank" in lowered:
            errors["status"] = [_("Write something first.")]
    return errors


async def _compose_again(
    page: Page, form: FormData, errors: dict[str, list[str]], problem: str | None = None
) -> Response:
    """The form as it was sent, with what to correct: nothing typed is lost."""
    context = await compose_defaults(page, **form_values(form))
    context["errors"] = errors
    context["problem"] = problem or _("Please correct the fields marked below.")
    context["idempotency_key"] = text(form, "idempotency_key") or context["idempotency_key"]
    context["next"] = text(form, "next")
    return await page.render("compose.html", {**context, "nav": "home"}, 422)
