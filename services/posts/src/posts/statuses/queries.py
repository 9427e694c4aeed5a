"""The SQL every read path shares: who may see a status, and the one query that fetches statuses
ready to render (each with its author's account and the viewer's `favourited` flag), so that a
page of any length costs one query.

Visibility, as Mastodon's StatusPolicy: `public` and `unlisted` to anyone; `private` to the author,
their followers and the accounts it mentions; `direct` to the author and the accounts it mentions.
Whatever a caller may not see is answered as if it did not exist (404, or left out of a list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, exists, false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, FromClause

from microblog_common.pagination import Page
from posts.models import OPEN_VISIBILITIES, Account, Favourite, Follow, Mention, Status

statuses = Status.__table__
accounts = Account.__table__
# The account's columns come back prefixed, beside the status's own.
ACCOUNT_PREFIX = "author_"
ACCOUNT_COLUMNS = [column.label(ACCOUNT_PREFIX + column.name) for column in accounts.c]


def follows(viewer_id: int, author_id: Any) -> ColumnElement[bool]:
    return exists().where(
        Follow.account_id == viewer_id, Follow.target_account_id == author_id, Follow.active.is_(True)
    )


def mentions(viewer_id: int, status_id: Any) -> ColumnElement[bool]:
    return exists().where(Mention.status_id == status_id, Mention.account_id == viewer_id)


def visible_to(viewer_id: int | None, s: FromClause = statuses) -> ColumnElement[bool]:
    if viewer_id is None:
        return s.c.visibility.in_(OPEN_VISIBILITIES)
    return or_(
        s.c.visibility.in_(OPEN_VISIBILITIES),
        s.c.account_id == viewer_id,
        mentions(viewer_id, s.c.id),
        and_(s.c.visibility == "private", follows(viewer_id, s.c.account_id)),
    )


def renderable(viewer_id: int | None, source: FromClause | None = None, onclause: Any = None) -> Select:
    """SELECT status columns, account columns and `favourited` FROM `source` (default: statuses)
    joined to the author's account and the viewer's favourite. With `source` (e.g. a home feed),
    statuses and accounts are outer-joined on `onclause`, so rows whose status is gone or hidden
    still come back (with a NULL id) and still count towards the page."""
    if source is None:
        joined = statuses.join(accounts, accounts.c.id == statuses.c.account_id)
    else:
        joined = source.outerjoin(statuses, onclause).outerjoin(
            accounts, accounts.c.id == statuses.c.account_id
        )
    if viewer_id is None:
        return select(*statuses.c, *ACCOUNT_COLUMNS, false().label("favourited")).select_from(joined)
    favourite = Favourite.__table__.alias("viewer_favourite")
    joined = joined.outerjoin(
        favourite, and_(favourite.c.status_id == statuses.c.id, favourite.c.account_id == viewer_id)
    )
    return select(*statuses.c, *ACCOUNT_COLUMNS, favourite.c.id.is_not(None).label("favourited")).select_from(
        joined
    )


def paged(stmt: Select, cursor: Any, page: Page) -> Select:
    """Mastodon's cursors: `max_id` (older than), `since_id` (newer than, newest first) and
    `min_id` (the page just newer than it: fetched oldest first, `in_page_order` flips it)."""
    if page.max_id is not None:
        stmt = stmt.where(cursor < page.max_id)
    if page.since_id is not None:
        stmt = stmt.where(cursor > page.since_id)
    if page.min_id is not None:
        return stmt.where(cursor > page.min_id).order_by(cursor.asc()).limit(page.limit)
    return stmt.order_by(cursor.desc()).limit(page.limit)


def in_page_order(rows: Sequence[Any], page: Page) -> list[Any]:
    return list(reversed(rows)) if page.min_id is not None else list(rows)


def by_ids(session: Session, ids: Sequence[int], viewer_id: int | None) -> list[Any]:
    """The visible ones among `ids`, in no particular order."""
    if not ids:
        return []
    stmt = renderable(viewer_id).where(statuses.c.id.in_(list(ids)), visible_to(viewer_id))
    return list(session.execute(stmt).all())


def one(session: Session, status_id: int | None, viewer_id: int | None) -> Any | None:
    if status_id is None:
        return None
    rows = by_ids(session, [status_id], viewer_id)
    return rows[0] if rows else None


_ACCOUNT_NAMES = tuple(column.name for column in accounts.c)
# Where `renderable` puts the account's columns: right after the status's own, in table order.
ACCOUNT_SLICE = slice(len(statuses.c), len(statuses.c) + len(_ACCOUNT_NAMES))


def as_account(row: Any) -> dict[str, Any]:
    """The account columns of a row of `renderable`, without their prefix. By position: a page
    renders one per status, and 25 look-ups by name cost several times one slice."""
    return dict(zip(_ACCOUNT_NAMES, row[ACCOUNT_SLICE], strict=True))
