"""Cursor pages the way the shared `microblog_common.pagination` reads them, for lists whose
Mastodon limits differ from the default 20/40 (accounts lists: 40/80), and the `Link` header."""

from __future__ import annotations

from fastapi import Query, Request

from microblog_common.ids import parse_id
from microblog_common.pagination import Page, link_header
from posts.urls import Urls


def page_params_for(default: int, maximum: int):
    def dependency(
        max_id: str | None = Query(None),
        since_id: str | None = Query(None),
        min_id: str | None = Query(None),
        limit: str | None = Query(None),
    ) -> Page:
        try:
            wanted = int(limit) if limit not in (None, "") else default
        except ValueError:
            wanted = default
        return Page(parse_id(max_id), parse_id(since_id), parse_id(min_id), max(1, min(wanted, maximum)))

    return dependency


def link_headers(request: Request, urls: Urls, page: Page, cursors: list[int]) -> dict[str, str]:
    link = link_header(urls(request.url.path), page, cursors)
    return {"Link": link} if link else {}
