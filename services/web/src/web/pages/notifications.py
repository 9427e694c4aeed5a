"""Notifications, filtered by kind; seeing the newest ones marks them read (the `notifications`
marker), which the unread badge counts from. New ones arrive live (see `stream.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from web.api.client import ApiError, ApiUnavailable
from web.i18n import gettext as _
from web.page import PageDep
from web.pages.views import instance, older_url, translation_enabled, wants_fragment

router = APIRouter()

KINDS = ("mention", "follow", "favourite", "status", "update")


def kind_names() -> dict[str, str]:
    return {
        "": _("All"),
        "mention": _("Mentions"),
        "follow": _("Follows"),
        "favourite": _("Favourites"),
        "status": _("Posts"),
        "update": _("Edits"),
    }


@router.get("/notifications")
async def notifications(page: PageDep, type: str = "", max_id: str | None = None) -> Response:
    page.require_viewer()
    kind = type if type in KINDS else ""
    params: dict[str, Any] = {"max_id": max_id, "limit": 30, "types[]": [kind] if kind else None}
    values: dict[str, Any] = {"nav": "notifications", "kind": kind, "kinds": kind_names(), "problem": None}
    status_code = 200
    try:
        answer = await page.get("/api/v1/notifications", params=params)
        items = answer.data or []
        values.update(notifications=items, older=older_url("/notifications", answer, {"type": kind}))
        if max_id is None and items:
            # Seen: the badge counts from here. A lost race with another tab (409) changes nothing.
            try:
                await page.post("/api/v1/markers", data={"notifications[last_read_id]": items[0]["id"]})
            except ApiError:
                pass
            if page.unread is not None:
                page.unread.cancel()
                page.unread = None
    except ApiUnavailable:
        values.update(notifications=[], older=None, problem=_("Notifications are unavailable right now."))
        status_code = 503
    values["translation_enabled"] = translation_enabled(await instance(page))
    if wants_fragment(page.request):
        return await page.render("partials/notification_list.html", values, status_code)
    return await page.render("notifications.html", values, status_code)


@router.get("/notifications/unread")
async def unread(page: PageDep) -> Response:
    """The badge's count, for our script after it reconnects."""
    if page.viewer is None:
        return JSONResponse({"count": 0})
    try:
        answer = await page.get("/api/v1/notifications/unread_count")
    except (ApiError, ApiUnavailable):
        return JSONResponse({"count": None})
    return JSONResponse({"count": answer.data.get("count", 0)})
