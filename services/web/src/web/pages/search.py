"""Search: the words (with Mastodon's operators), and the API's filters as form fields: language,
author, dates, typo tolerance, sort order; matches highlighted. When search is down the page
says so, keeping what was typed, and the rest of the site is unaffected."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from web import i18n
from web.api.client import ApiError, ApiUnavailable
from web.i18n import gettext as _
from web.messages import summary
from web.page import PageDep
from web.pages.views import instance, page_url, translation_enabled, wants_fragment

router = APIRouter()

PAGE_SIZE = 20
TYPES = ("statuses", "accounts", "hashtags")


@router.get("/search")
async def search(
    page: PageDep,
    q: str = "",
    type: str = "statuses",
    language: str = "",
    author: str = "",
    since: str = "",
    until: str = "",
    fuzzy: str = "true",
    sort: str = "relevance",
    offset: int = 0,
) -> Response:
    query = {
        "q": q.strip(),
        "type": type if type in TYPES else "statuses",
        "language": language,
        "author": author.strip().lstrip("@"),
        "since": since,
        "until": until,
        "fuzzy": "false" if fuzzy == "false" else "true",
        "sort": "latest" if sort == "latest" else "relevance",
    }
    values: dict[str, Any] = {
        "query": query,
        "nav": "search",
        "languages": {code: i18n.language_name(code) for code in i18n.POST_LANGUAGES},
        "results": None,
        "problem": None,
    }
    status_code = 200
    if query["q"]:
        offset = max(0, offset)
        try:
            answer = await page.get(
                "/api/v2/search",
                params={**query, "limit": PAGE_SIZE, "offset": offset or None, "resolve": "false"},
            )
            results = answer.data
            values["results"] = results
            found = results.get(query["type"], [])
            if len(found) >= PAGE_SIZE:
                values["older"] = page_url("/search", {**query, "offset": offset + len(found)})
        except ApiUnavailable:
            values["problem"] = _("Search is unavailable right now. Please try again in a few minutes.")
            status_code = 503
        except ApiError as exc:
            values["problem"] = summary(exc) if exc.status != 422 else _("Some of the filters are not valid.")
            status_code = exc.status
        values["translation_enabled"] = translation_enabled(await instance(page))
    if wants_fragment(page.request) and values["results"] is not None:
        return await page.render("partials/search_results.html", values, status_code)
    return await page.render("search.html", values, status_code)
