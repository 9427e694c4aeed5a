"""The home feed, the public timeline, hashtag timelines, and the front page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from web.page import PageDep
from web.pages.compose import compose_defaults
from web.pages.views import statuses_page

router = APIRouter()


@router.get("/")
async def front(page: PageDep) -> Response:
    if page.viewer is not None:
        return page.redirect("/home")
    answer = await page.get("/api/v1/timelines/public", params={"local": "true", "limit": 20})
    return await statuses_page(
        page, template="front.html", answer=answer, path="/public", context={"nav": "front"}
    )


@router.get("/home")
async def home(page: PageDep, max_id: str | None = None) -> Response:
    page.require_viewer()
    answer = await page.get("/api/v1/timelines/home", params={"max_id": max_id, "limit": 20})
    return await statuses_page(
        page,
        template="timeline.html",
        answer=answer,
        path="/home",
        context={
            "nav": "home",
            "timeline": "home",
            "title": "home",
            "compose": await compose_defaults(page),
            "first_page": max_id is None,
        },
    )


@router.get("/public")
async def public(page: PageDep, max_id: str | None = None) -> Response:
    answer = await page.get("/api/v1/timelines/public", params={"max_id": max_id, "limit": 20})
    return await statuses_page(
        page,
        template="timeline.html",
        answer=answer,
        path="/public",
        context={"nav": "public", "timeline": "public", "title": "public", "first_page": max_id is None},
    )


@router.get("/tags/{tag}")
async def hashtag(page: PageDep, tag: str, max_id: str | None = None) -> Response:
    answer = await page.get(
        f"/api/v1/timelines/tag/{quote(tag, safe='')}", params={"max_id": max_id, "limit": 20}
    )
    return await statuses_page(
        page,
        template="timeline.html",
        answer=answer,
        path=f"/tags/{tag}",
        context={"nav": "public", "timeline": "", "title": "tag", "tag": tag, "first_page": max_id is None},
    )
