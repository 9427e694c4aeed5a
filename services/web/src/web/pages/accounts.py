"""Profiles: `/@username` (avatar, bio, counts, posts, follow or unfollow) and who follows whom."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from web.api.client import ApiResponse
from web.i18n import gettext as _
from web.page import FormDep, Page, PageDep, safe_next, text
from web.pages.views import older_url, statuses_page, wants_fragment

router = APIRouter()


async def _account(page: Page, username: str) -> dict[str, Any]:
    account: dict[str, Any] = (await page.get("/api/v1/accounts/lookup", params={"acct": username})).data
    return account


async def _relationship(page: Page, account: dict[str, Any]) -> dict[str, Any] | None:
    viewer = page.viewer
    if viewer is None or account["id"] == str(viewer.account_id):
        return None
    answer = await page.get("/api/v1/accounts/relationships", params={"id[]": [account["id"]]})
    return answer.data[0] if answer.data else None


@router.get("/@{username}")
async def profile(
    page: PageDep, username: str, max_id: str | None = None, replies: str | None = None
) -> Response:
    account = await _account(page, username)
    params = {"max_id": max_id, "limit": 20, "exclude_replies": "false" if replies else "true"}
    statuses, relationship = await asyncio.gather(
        page.get(f"/api/v1/accounts/{account['id']}/statuses", params=params), _relationship(page, account)
    )
    return await statuses_page(
        page,
        template="profile.html",
        answer=statuses,
        path=f"/@{account['acct']}",
        params={"replies": replies},
        context={
            "account": account,
            "relationship": relationship,
            "with_replies": bool(replies),
            "nav": "profile" if page.viewer and page.viewer.account_id == int(account["id"]) else "",
            "first_page": max_id is None,
        },
    )


@router.get("/users/{username}")
async def actor(page: PageDep, username: str) -> Response:
    """An account's `uri` (ActivityPub's shape) leads to its profile."""
    return page.redirect(f"/@{username}")


async def _accounts_page(page: Page, username: str, which: str, max_id: str | None) -> Response:
    account = await _account(page, username)
    answer: ApiResponse = await page.get(
        f"/api/v1/accounts/{account['id']}/{which}", params={"max_id": max_id, "limit": 40}
    )
    values = {
        "account": account,
        "accounts": answer.data or [],
        "older": older_url(f"/@{account['acct']}/{which}", answer),
        "which": which,
    }
    if wants_fragment(page.request):
        return await page.render("partials/account_list.html", values)
    return await page.render("follows.html", values)


@router.get("/@{username}/followers")
async def followers(page: PageDep, username: str, max_id: str | None = None) -> Response:
    return await _accounts_page(page, username, "followers", max_id)


@router.get("/@{username}/following")
async def following(page: PageDep, username: str, max_id: str | None = None) -> Response:
    return await _accounts_page(page, username, "following", max_id)


async def _follow(page: Page, form: Any, username: str, action: str) -> Response:
    page.require_viewer()
    account = await _account(page, username)
    await page.post(f"/api/v1/accounts/{account['id']}/{action}")
    if action == "follow":
        notice = _("You follow %(name)s now.", name=account.get("display_name") or account["acct"])
    else:
        notice = _("You no longer follow %(name)s.", name=account.get("display_name") or account["acct"])
    return page.redirect(safe_next(text(form, "next"), default=f"/@{account['acct']}"), notice=notice)


@router.post("/@{username}/follow")
async def follow(page: PageDep, form: FormDep, username: str) -> Response:
    return await _follow(page, form, username, "follow")


@router.post("/@{username}/unfollow")
async def unfollow(page: PageDep, form: FormDep, username: str) -> Response:
    return await _follow(page, form, username, "unfollow")
