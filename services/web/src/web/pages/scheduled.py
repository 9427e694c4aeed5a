"""Scheduled posts: when each goes out (in the writer's time zone), moving it, cancelling it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from web.api.client import ApiError
from web.i18n import gettext as _
from web.page import FormDep, PageDep, text
from web.pages.compose import scheduled_time
from web.pages.views import older_url

router = APIRouter()


@router.get("/scheduled")
async def scheduled(page: PageDep, max_id: str | None = None) -> Response:
    page.require_viewer()
    answer = await page.get("/api/v1/scheduled_statuses", params={"max_id": max_id, "limit": 40})
    return await page.render(
        "scheduled.html",
        {"scheduled": answer.data or [], "older": older_url("/scheduled", answer), "nav": "scheduled"},
    )


@router.post("/scheduled/{scheduled_id:int}")
async def reschedule(page: PageDep, form: FormDep, scheduled_id: int) -> Response:
    page.require_viewer()
    when = scheduled_time(text(form, "scheduled_at"), text(form, "time_zone") or page.time_zone)
    if not when or when == "invalid":
        return page.redirect("/scheduled", alert=_("Pick a date and a time."))
    try:
        await page.api("PUT", f"/api/v1/scheduled_statuses/{scheduled_id}", data={"scheduled_at": when})
    except ApiError as exc:
        if exc.status == 404:
            raise
        return page.redirect("/scheduled", alert=_("Pick a time at least five minutes from now."))
    return page.redirect("/scheduled", notice=_("The time has been changed."))


@router.post("/scheduled/{scheduled_id:int}/cancel")
async def cancel(page: PageDep, form: FormDep, scheduled_id: int) -> Response:
    page.require_viewer()
    await page.api("DELETE", f"/api/v1/scheduled_statuses/{scheduled_id}")
    return page.redirect("/scheduled", notice=_("The scheduled post has been cancelled."))
