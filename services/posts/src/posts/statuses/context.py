"""GET /api/v1/statuses/:id/context: a status's ancestors (the chain of posts it replies to, oldest
first) and descendants (the replies below it, in thread order), each only if the caller may see it.

Two recursive queries (`repository.ancestor_ids` and `descendant_ids`) walk the thread by
`in_reply_to_id` (indexed both ways), one more fetches what they found ready to render. Anonymous
callers get at most 40 ancestors and 60 descendants, signed-in ones 4,096 of each, as on Mastodon."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from microblog_common.errors import NotFound
from microblog_common.ids import parse_id
from microblog_common.urls import PublicUrls
from posts.statuses import repository
from posts.statuses.rendering import status_json
from posts.statuses.repository import StatusRow

ANONYMOUS_LIMITS = (40, 60)
SIGNED_IN_LIMITS = (4096, 4096)


def _thread_order(root: int, rows: list[StatusRow]) -> list[StatusRow]:
    """Depth first, older replies first: how a thread reads. A reply whose parent is hidden from
    the caller follows the replies it can be placed under."""
    children: dict[int | None, list[StatusRow]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        children.setdefault(row.in_reply_to_id, []).append(row)
    ordered: list[StatusRow] = []
    seen: set[int] = set()
    stack = list(reversed(children.get(root, [])))
    while stack:
        row = stack.pop()
        ordered.append(row)
        seen.add(row.id)
        stack.extend(reversed(children.get(row.id, [])))
    ordered.extend(row for row in sorted(rows, key=lambda r: r.id) if row.id not in seen)
    return ordered


def context(
    session: Session, urls: PublicUrls, status_id: str, viewer_id: int | None
) -> dict[str, list[dict[str, Any]]]:
    status = repository.visible_status(session, parse_id(status_id), viewer_id)
    if status is None:
        raise NotFound()
    ancestors_limit, descendants_limit = ANONYMOUS_LIMITS if viewer_id is None else SIGNED_IN_LIMITS
    ancestor_ids = repository.ancestor_ids(session, status.in_reply_to_id, ancestors_limit)
    descendant_ids = repository.descendant_ids(session, status.id, descendants_limit)
    rows = repository.visible_statuses(session, ancestor_ids + descendant_ids, viewer_id)
    above, below = set(ancestor_ids), set(descendant_ids)
    ancestors = sorted((r for r in rows if r.id in above), key=lambda r: r.id)
    descendants = _thread_order(status.id, [r for r in rows if r.id in below])
    return {
        "ancestors": [status_json(r, viewer_id, urls) for r in ancestors],
        "descendants": [status_json(r, viewer_id, urls) for r in descendants],
    }
