"""GET /api/v1/statuses/:id/context: a status's ancestors (the chain of posts it replies to, oldest
first) and descendants (the replies below it, in thread order), each only if the caller may see it.

Two recursive queries walk the thread by `in_reply_to_id` (indexed both ways), one more fetches
what they found ready to render. Anonymous callers get at most 40 ancestors and 60 descendants,
signed-in ones 4,096 of each, as on Mastodon."""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from microblog_common.errors import NotFound
from microblog_common.ids import parse_id
from microblog_common.urls import PublicUrls
from posts.statuses import queries
from posts.statuses.rendering import status_json

ANONYMOUS_LIMITS = (40, 60)
SIGNED_IN_LIMITS = (4096, 4096)

s = queries.statuses


def _ancestor_ids(session: Session, start: int | None, limit: int) -> list[int]:
    if start is None:
        return []
    walk = (
        select(s.c.id, s.c.in_reply_to_id, literal(1).label("depth"))
        .where(s.c.id == start)
        .cte(recursive=True)
    )
    parent = s.alias("parent")
    walk = walk.union_all(
        select(parent.c.id, parent.c.in_reply_to_id, walk.c.depth + 1)
        .where(parent.c.id == walk.c.in_reply_to_id)
        .where(walk.c.depth < limit)
    )
    return list(session.scalars(select(walk.c.id)))


def _descendant_ids(session: Session, root: int, limit: int) -> list[int]:
    walk = select(s.c.id, literal(1).label("depth")).where(s.c.in_reply_to_id == root).cte(recursive=True)
    child = s.alias("child")
    walk = walk.union_all(
        select(child.c.id, walk.c.depth + 1)
        .where(child.c.in_reply_to_id == walk.c.id)
        .where(walk.c.depth < limit)
    )
    return list(session.scalars(select(walk.c.id).order_by(walk.c.id).limit(limit)))


def _thread_order(root: int, rows: list[Any]) -> list[Any]:
    """Depth first, older replies first: how a thread reads. A reply whose parent is hidden from
    the caller follows the replies it can be placed under."""
    children: dict[int | None, list[Any]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        children.setdefault(row.in_reply_to_id, []).append(row)
    ordered: list[Any] = []
    seen: set[int] = set()
    stack = list(reversed(children.get(root, [])))
    while stack:
        row = stack.pop()
        ordered.append(row)
        seen.add(row.id)
        stack.extend(reversed(children.get(row.id, [])))
    ordered.extend(row for row in sorted(rows, key=lambda r: r.id) if row.id not in seen)
    return ordered


def context(session: Session, urls: PublicUrls, status_id: str, viewer_id: int | None) -> dict[str, list]:
    status = queries.one(session, parse_id(status_id), viewer_id)
    if status is None:
        raise NotFound()
    ancestors_limit, descendants_limit = ANONYMOUS_LIMITS if viewer_id is None else SIGNED_IN_LIMITS
    ancestor_ids = _ancestor_ids(session, status.in_reply_to_id, ancestors_limit)
    descendant_ids = _descendant_ids(session, status.id, descendants_limit)
    rows = queries.by_ids(session, ancestor_ids + descendant_ids, viewer_id)
    above, below = set(ancestor_ids), set(descendant_ids)
    ancestors = sorted((r for r in rows if r.id in above), key=lambda r: r.id)
    descendants = _thread_order(status.id, [r for r in rows if r.id in below])
    return {
        "ancestors": [status_json(r, viewer_id, urls) for r in ancestors],
        "descendants": [status_json(r, viewer_id, urls) for r in descendants],
    }
