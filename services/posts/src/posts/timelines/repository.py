"""Every timeline's query: home, public, hashtag and an account's statuses. Each page is one
query, walking one index newest first from the cursor and stopping after `limit` rows, so it costs
the same at a million statuses as at a thousand:

- home: the reader's rows of `home_feed` (primary key `(account_id, status_id)`), filled by fan-out
  on write; the status, its author and the reader's favourite are joined to each row;
- public: the partial index of public, non-reply statuses (`ix_statuses_public_timeline`);
- hashtag: `status_tags` by `(tag_id, status_id)`, the tag found by an init-plan subquery;
- account: `statuses` by `(account_id, id)`, filtered by what the reader may see.

The `*_query` functions build the statements (the tests compile and EXPLAIN them); the others run
them and answer a `TimelinePage`."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Integer,
    ScalarSelect,
    and_,
    bindparam,
    exists,
    false,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from microblog_common.pagination import Page
from microblog_common.text import acceptable
from posts.models import HomeFeed, StatusTag, Tag, in_public_timeline
from posts.statuses.repository import (
    PageBounds,
    RenderableSelect,
    StatusRow,
    follows,
    in_page_order,
    paged,
    renderable,
    statuses,
    visible_to,
)


class TimelinePage(NamedTuple):
    """The rows to render, and the cursor of every row the page walked (some home rows may have no
    status to render: deleted since, or no longer visible), which the `Link` header is built from."""

    rows: list[StatusRow]
    cursors: list[int]


def _walk(
    session: Session,
    stmt: RenderableSelect,
    page: Page,
    cursor_name: str = "id",
    params: dict[str, Any] | None = None,
) -> TimelinePage:
    rows = in_page_order(session.execute(stmt, params).all(), page)
    cursors: list[int] = [getattr(r, cursor_name) for r in rows]
    renderable_rows = [r for r in rows if r.id is not None and r.author_id is not None]
    return TimelinePage(cast("list[StatusRow]", renderable_rows), cursors)


# -- home -----------------------------------------------------------------------------------------


def _still_visible_in_home(viewer_id: int | BindParameter[int]) -> ColumnElement[bool]:
    """Fan-out checked visibility when it wrote the row; what can change since is the follow a
    followers-only post was delivered through (an unfollow racing the post). A direct post got in
    by mentioning the reader, and mentions are never taken back."""
    return or_(
        statuses.c.visibility != "private",
        statuses.c.account_id == viewer_id,
        follows(viewer_id, statuses.c.account_id),
    )


def _home_statement(viewer_id: int | BindParameter[int], page: Page | PageBounds) -> RenderableSelect:
    feed = HomeFeed.__table__
    stmt = renderable(
        viewer_id,
        source=feed,
        onclause=and_(statuses.c.id == feed.c.status_id, _still_visible_in_home(viewer_id)),
    )
    stmt = stmt.add_columns(feed.c.status_id.label("cursor")).where(feed.c.account_id == viewer_id)
    return paged(stmt, feed.c.status_id, page)


# The home page is the busiest read: building its Select and computing its cache key cost more
# of the service's CPU per request than running it. So it is built once per cursor shape (which
# of max_id, since_id and min_id are given), with the reader, the cursors and the limit as bind
# parameters, and executed with their values: SQLAlchemy memoizes the cache key on the statement
# object, and the SQL is the same as with the values built in.
_HOME_PARAMS: dict[str, BindParameter[int]] = {
    name: bindparam(name, type_=BigInteger) for name in ("viewer_id", "max_id", "since_id", "min_id")
}
_HOME_PARAMS["limit"] = bindparam("limit", type_=Integer)
_home_templates: dict[tuple[bool, bool, bool], RenderableSelect] = {}


def _home_template(page: Page) -> RenderableSelect:
    shape = (page.max_id is not None, page.since_id is not None, page.min_id is not None)
    stmt = _home_templates.get(shape)
    if stmt is None:  # a race builds the same statement twice, harmlessly
        p = _HOME_PARAMS  # bounds like a Page's, so `paged` builds the cursor conditions as for any page
        bounds = PageBounds(
            p["max_id"] if shape[0] else None,
            p["since_id"] if shape[1] else None,
            p["min_id"] if shape[2] else None,
            p["limit"],
        )
        stmt = _home_templates[shape] = _home_statement(p["viewer_id"], bounds)
    return stmt


def _home_values(viewer_id: int, page: Page) -> dict[str, int]:
    values = {"viewer_id": viewer_id, "limit": page.limit}
    for name in ("max_id", "since_id", "min_id"):
        if (value := getattr(page, name)) is not None:
            values[name] = value
    return values


def home_query(viewer_id: int, page: Page) -> RenderableSelect:
    """The statement `home` runs, with the values bound (to compile or explain it)."""
    return _home_template(page).params(_home_values(viewer_id, page))


def home(session: Session, viewer_id: int, page: Page) -> TimelinePage:
    return _walk(session, _home_template(page), page, "cursor", _home_values(viewer_id, page))


# -- public and hashtag ----------------------------------------------------------------------------


def public_query(viewer_id: int | None, page: Page) -> RenderableSelect:
    return paged(renderable(viewer_id).where(in_public_timeline(statuses)), statuses.c.id, page)


def public(session: Session, viewer_id: int | None, page: Page) -> TimelinePage:
    return _walk(session, public_query(viewer_id, page), page)


def _tag_id(name: str) -> ScalarSelect[int]:
    name = name.strip().lstrip("#").lower()
    # A name with NUL is no hashtag, and PostgreSQL refuses it as a parameter: match nothing.
    # A name no tag can have (microblog_common.text refuses it) matches nothing, without asking.
    return select(Tag.id).where(Tag.name == name if acceptable(name) else false()).scalar_subquery()


def hashtag_query(viewer_id: int | None, name: str, page: Page) -> RenderableSelect:
    tagged = StatusTag.__table__
    stmt = (
        renderable(viewer_id)
        .join(tagged, tagged.c.status_id == statuses.c.id)
        .where(tagged.c.tag_id == _tag_id(name), statuses.c.visibility == "public")
    )
    return paged(stmt, tagged.c.status_id, page)


def hashtag(session: Session, viewer_id: int | None, name: str, page: Page) -> TimelinePage:
    return _walk(session, hashtag_query(viewer_id, name, page), page)


# -- an account's statuses ---------------------------------------------------------------------------


def account_query(
    viewer_id: int | None,
    author: int,
    page: Page,
    *,
    exclude_replies: bool,
    exclude_direct: bool,
    tagged: str | None,
) -> RenderableSelect:
    stmt = renderable(viewer_id).where(statuses.c.account_id == author, visible_to(viewer_id))
    if exclude_replies:
        stmt = stmt.where(
            or_(statuses.c.in_reply_to_id.is_(None), statuses.c.in_reply_to_account_id == author)
        )
    if exclude_direct:
        stmt = stmt.where(statuses.c.visibility != "direct")
    if tagged:
        stmt = stmt.where(
            exists().where(StatusTag.status_id == statuses.c.id, StatusTag.tag_id == _tag_id(tagged))
        )
    return paged(stmt, statuses.c.id, page)


def account_statuses(
    session: Session,
    viewer_id: int | None,
    author: int,
    page: Page,
    *,
    exclude_replies: bool,
    exclude_direct: bool,
    tagged: str | None,
) -> TimelinePage:
    stmt = account_query(
        viewer_id, author, page, exclude_replies=exclude_replies, exclude_direct=exclude_direct, tagged=tagged
    )
    return _walk(session, stmt, page)
