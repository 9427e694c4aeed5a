"""A post's page (its thread, a reply box), and what can be done to a post: favourite it,
translate it, edit it (its history kept and shown), delete it.

Every action is a form that works without JavaScript (post, then back to the page); our script
sends the same forms in place and asks for JSON or a piece of page instead."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from web.api.client import ApiError, ApiUnavailable
from web.errors import service_name
from web.i18n import gettext as _
from web.messages import field_errors, summary
from web.page import FormDep, Page, PageDep, safe_next, text
from web.pages.compose import compose_defaults
from web.pages.views import instance, translation_enabled, wants_fragment

router = APIRouter()


def status_path(status: dict[str, Any]) -> str:
    return f"/@{status['account']['acct']}/{status['id']}"


async def _thread(page: Page, status_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    status, context = await asyncio.gather(
        page.get(f"/api/v1/statuses/{status_id}"), page.get(f"/api/v1/statuses/{status_id}/context")
    )
    return status.data, context.data


async def _status_page(page: Page, status: dict[str, Any], context: dict[str, Any], **extra: Any) -> Response:
    info = await instance(page)
    values: dict[str, Any] = {
        "status": status,
        "ancestors": context.get("ancestors", []),
        "descendants": context.get("descendants", []),
        "translation_enabled": translation_enabled(info),
        **extra,
    }
    if page.viewer is not None and "compose" not in values:
        mention = (
            "" if status["account"]["id"] == str(page.viewer.account_id) else f"@{status['account']['acct']} "
        )
        values["compose"] = await compose_defaults(
            page,
            in_reply_to_id=status["id"],
            status=mention,
            spoiler_text=status.get("spoiler_text") or "",
            visibility=status["visibility"] if status["visibility"] != "public" else "",
        )
        if not values["compose"]["values"]["visibility"]:
            values["compose"]["values"]["visibility"] = page.viewer.profile.get("default_privacy") or "public"
    return await page.render("status.html", values)


@router.get("/@{username}/{status_id:int}")
async def status_page(page: PageDep, username: str, status_id: int) -> Response:
    status, context = await _thread(page, status_id)
    if status["account"]["acct"].lower() != username.lower():
        return page.redirect(status_path(status))
    return await _status_page(page, status, context)


@router.get("/users/{username}/statuses/{status_id:int}")
async def status_uri(page: PageDep, username: str, status_id: int) -> Response:
    """A status's `uri` (ActivityPub's shape) leads to its page."""
    return page.redirect(f"/@{username}/{status_id}")


# -- favourites ----------------------------------------------------------------------------


async def _favourite(page: Page, form: Any, status_id: int, action: str) -> Response:
    page.require_viewer()
    answer = await page.post(f"/api/v1/statuses/{status_id}/{action}")
    status = answer.data
    if wants_fragment(page.request):
        return JSONResponse(
            {
                "favourited": bool(status.get("favourited")),
                "favourites_count": status.get("favourites_count", 0),
            }
        )
    return page.redirect(safe_next(text(form, "next"), default=status_path(status)) + f"#status-{status_id}")


@router.post("/statuses/{status_id:int}/favourite")
async def favourite(page: PageDep, form: FormDep, status_id: int) -> Response:
    return await _favourite(page, form, status_id, "favourite")


@router.post("/statuses/{status_id:int}/unfavourite")
async def unfavourite(page: PageDep, form: FormDep, status_id: int) -> Response:
    return await _favourite(page, form, status_id, "unfavourite")


# -- translation ---------------------------------------------------------------------------


@router.post("/statuses/{status_id:int}/translate")
async def translate(page: PageDep, form: FormDep, status_id: int) -> Response:
    problem = None
    translation = None
    try:
        translation = (
            await page.post(f"/api/v1/statuses/{status_id}/translate", data={"lang": page.locale})
        ).data
    except ApiUnavailable as exc:
        problem = _(
            "%(service)s is unavailable right now", service=service_name(exc.service) or _("Translation")
        )
    except ApiError as exc:
        if exc.status == 404:
            raise
        problem = (
            summary(exc) if exc.status != 422 else _("This post can't be translated into your language.")
        )
    if wants_fragment(page.request):
        return await page.render(
            "partials/translation.html",
            {"translation": translation, "problem": problem},
            200 if translation else 503 if problem and "unavailable" in problem else 422,
        )
    status, context = await _thread(page, status_id)
    return await _status_page(page, status, context, translation=translation, translation_problem=problem)


# -- editing and deleting ------------------------------------------------------------------


async def _own_status(page: Page, status_id: int) -> dict[str, Any]:
    viewer = page.require_viewer()
    status: dict[str, Any] = (await page.get(f"/api/v1/statuses/{status_id}")).data
    if status["account"]["id"] != str(viewer.account_id):
        raise ApiError(403, "Not yours")
    return status


@router.get("/@{username}/{status_id:int}/edit")
async def edit_form(page: PageDep, username: str, status_id: int) -> Response:
    status = await _own_status(page, status_id)
    source = (await page.get(f"/api/v1/statuses/{status_id}/source")).data
    values = {
        "status": source.get("text", ""),
        "spoiler_text": source.get("spoiler_text", ""),
        "language": status.get("language") or "",
    }
    context = await compose_defaults(page, **values)
    return await page.render("edit.html", {**context, "status": status})


@router.post("/@{username}/{status_id:int}/edit")
async def edit(page: PageDep, form: FormDep, username: str, status_id: int) -> Response:
    status = await _own_status(page, status_id)
    values = {name: text(form, name) for name in ("status", "spoiler_text", "language")}
    data = {key: value for key, value in values.items() if key != "language" or value}
    try:
        await page.api("PUT", f"/api/v1/statuses/{status_id}", data=data)
    except ApiError as exc:
        context = await compose_defaults(page, **values)
        context.update(errors=field_errors(exc), problem=summary(exc))
        return await page.render("edit.html", {**context, "status": status}, 422)
    return page.redirect(status_path(status), notice=_("Your post has been edited."))


@router.get("/@{username}/{status_id:int}/history")
async def history(page: PageDep, username: str, status_id: int) -> Response:
    status, versions = await asyncio.gather(
        page.get(f"/api/v1/statuses/{status_id}"), page.get(f"/api/v1/statuses/{status_id}/history")
    )
    # Newest first, as Mastodon's history dialog shows it.
    return await page.render(
        "history.html", {"status": status.data, "versions": list(reversed(versions.data or []))}
    )


@router.post("/statuses/{status_id:int}/delete")
async def delete(page: PageDep, form: FormDep, status_id: int) -> Response:
    status = await _own_status(page, status_id)
    await page.api("DELETE", f"/api/v1/statuses/{status_id}")
    return page.redirect(f"/@{status['account']['acct']}", notice=_("Your post has been deleted."))
