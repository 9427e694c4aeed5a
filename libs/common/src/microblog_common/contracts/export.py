"""The internal export endpoints' page: what a service hands another one that rebuilds its copy of
the data from scratch (the search service's `python -m search.manage rebuild`). Each item is the
payload of the event that describes the aggregate's current state, with the aggregate's version,
so the reader applies it under the same version rule as the events.

`GET /internal/export/<kind>?after=<cursor>&limit=<n>`: items in cursor order; `next` is the
cursor to pass as `after` for the next page, null on the last one. Signed calls only, without a
user identity (`internal_auth.require_internal_caller`); never routed by the gateway."""

from __future__ import annotations

from typing import Any

from fastapi import Query

from microblog_common.contracts import Contract

MAX_EXPORT_PAGE = 1000


class ExportItem(Contract):
    version: int
    data: dict[str, Any]


class ExportPage(Contract):
    items: list[ExportItem]
    next: str | None


class ExportCursor(Contract):
    after: int
    limit: int


def export_cursor(
    after: int = Query(0, ge=0, le=(1 << 63) - 1), limit: int = Query(500, ge=1, le=MAX_EXPORT_PAGE)
) -> ExportCursor:
    return ExportCursor(after=after, limit=limit)


def page_of(items: list[ExportItem], cursors: list[int], limit: int) -> ExportPage:
    return ExportPage(items=items, next=str(cursors[-1]) if len(cursors) >= limit else None)
