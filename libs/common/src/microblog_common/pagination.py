"""Mastodon's cursor pagination: `max_id` / `since_id` / `min_id` / `limit` in, a `Link` header with
`rel="next"` (older: `max_id`) and `rel="prev"` (newer: `min_id`) out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Query

from microblog_common.ids import parse_id

DEFAULT_LIMIT = 20
MAX_LIMIT = 40
ACCOUNTS_DEFAULT_LIMIT = 40
ACCOUNTS_MAX_LIMIT = 80


@dataclass(frozen=True)
class Page:
    max_id: int | None
    since_id: int | None
    min_id: int | None
    limit: int


def page_params_for(default: int, maximum: int) -> Callable[..., Awaitable[Page]]:
    """A dependency reading a page with these limits (Mastodon: 20/40 for statuses, 40/80 for
    accounts). A limit that is not a number falls back to the default, as Mastodon does. Async,
    though it does no I/O: FastAPI runs a plain `def` dependency in a worker thread, a hop that
    costs more than the parsing."""

    async def page_params(
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

    return page_params


page_params = page_params_for(DEFAULT_LIMIT, MAX_LIMIT)
account_page_params = page_params_for(ACCOUNTS_DEFAULT_LIMIT, ACCOUNTS_MAX_LIMIT)


def link_header(
    url: str,
    page: Page,
    cursors: list[int],
    keep: Sequence[tuple[str, str]] = (),
    default_limit: int = DEFAULT_LIMIT,
) -> str | None:
    """`cursors` are the page's items' cursors, newest first. `next` only when the page is full
    (there may be older items), `prev` whenever the page is not empty, as Mastodon does. `keep`:
    the request's filters (`types[]`, ...), carried into both links."""
    if not cursors:
        return None
    extra = [*keep, *([("limit", str(page.limit))] if page.limit != default_limit else [])]
    links = []
    if len(cursors) >= page.limit:
        links.append(f'<{url}?{urlencode([*extra, ("max_id", str(cursors[-1]))])}>; rel="next"')
    links.append(f'<{url}?{urlencode([*extra, ("min_id", str(cursors[0]))])}>; rel="prev"')
    return ", ".join(links)


def link_headers(
    url: str,
    page: Page,
    cursors: list[int],
    keep: Sequence[tuple[str, str]] = (),
    default_limit: int = DEFAULT_LIMIT,
) -> dict[str, str]:
    """The `Link` header as response headers: none for an empty page."""
    link = link_header(url, page, cursors, keep, default_limit)
    return {"Link": link} if link else {}
