"""What several pages share: lists paged by the API's own cursors ("load more" never repeats or
skips a post: it asks for what is older than the last one shown), pieces of a page returned to
our scripts instead of a whole page, the instance's limits, and the API's HTML made safe to show."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from web.api.client import ApiError, ApiResponse, ApiUnavailable
from web.page import Page

FRAGMENT_HEADER = "x-requested-with"
INSTANCE_REFRESH_SECONDS = 300.0


def wants_fragment(request: Request) -> bool:
    """Our scripts ask for the piece of a page they replace or append ("load more", new posts)."""
    return request.headers.get(FRAGMENT_HEADER) == "fetch"


def page_url(path: str, params: dict[str, Any]) -> str:
    kept = {key: value for key, value in params.items() if value not in (None, "", [])}
    return path + ("?" + urlencode(kept, doseq=True) if kept else "")


def older_url(path: str, answer: ApiResponse, params: dict[str, Any] | None = None) -> str | None:
    """The next (older) page, from the `Link` header's `next`: absent when the list has ended."""
    max_id = answer.cursor("next", "max_id")
    if max_id is None:
        return None
    return page_url(path, {**(params or {}), "max_id": max_id})


async def instance(page: Page) -> dict[str, Any]:
    """The instance entity (characters per post, translation on or off), re-read every few
    minutes; the last one known if the API can't be asked."""
    runtime = page.runtime
    fetched_at = getattr(runtime, "instance_fetched_at", 0.0)
    if runtime.instance is None or time.monotonic() - fetched_at > INSTANCE_REFRESH_SECONDS:
        try:
            runtime.instance = (await runtime.api.get("/api/v2/instance")).data
        except (ApiError, ApiUnavailable):
            runtime.instance = runtime.instance or {}
        runtime.instance_fetched_at = time.monotonic()  # type: ignore[attr-defined]
    return runtime.instance or {}


def translation_enabled(info: dict[str, Any]) -> bool:
    return bool(info.get("configuration", {}).get("translation", {}).get("enabled"))


async def statuses_page(
    page: Page,
    *,
    template: str,
    answer: ApiResponse,
    path: str,
    params: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> Response:
    """A page (or, for our scripts, just the list) of statuses with its "load more" link."""
    info = await instance(page)
    values = {
        "statuses": answer.data or [],
        "older": older_url(path, answer, params),
        "translation_enabled": translation_enabled(info),
        **(context or {}),
    }
    if wants_fragment(page.request):
        return await page.render("partials/status_list.html", values)
    return await page.render(template, values)
