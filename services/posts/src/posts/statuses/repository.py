"""Every statement over statuses and what hangs off them: the rows every read path renders (who may
see a status, and the one query that fetches statuses ready to render, each with its author's
account and the viewer's `favourited` flag, so that a page of any length costs one query), a
thread's walks, and every write: mentions, hashtags, counts, the fan-out into home feeds,
idempotency keys. Flushes, never commits: a status, its fan-out and its event share one
transaction.

Visibility, as Mastodon's StatusPolicy: `public` and `unlisted` to anyone; `private` to the author,
their followers and the accounts it mentions; `direct` to the author and the accounts it mentions.
Whatever a caller may not see is answered as if it did not exist (404, or left out of a list)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, TypeVarTuple, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Select,
    and_,
    delete,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union,
    update,
)
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql import ColumnElement, FromClause

from microblog_common.ids import new_id
from microblog_common.pagination import Page
from microblog_common.sql import affected_rows, dialect_insert
from posts.models import (
    OPEN_VISIBILITIES,
    Account,
    Favourite,
    Follow,
    HomeFeed,
    IdempotencyKey,
    Mention,
    Status,
    StatusEdit,
    StatusTag,
    Tag,
)

T = TypeVar("T")
Columns = TypeVarTuple("Columns")

statuses = Status.__table__
accounts = Account.__table__

# -- the rows every read path renders ---------------------------------------------------------

# The account's columns come back prefixed, beside the status's own.
ACCOUNT_PREFIX = "author_"
ACCOUNT_COLUMNS = [column.label(ACCOUNT_PREFIX + column.name) for column in accounts.c]
ACCOUNT_NAMES = tuple(column.name for column in accounts.c)
# Where `renderable` puts the account's columns: right after the status's own, in table order.
ACCOUNT_SLICE = slice(len(statuses.c), len(statuses.c) + len(ACCOUNT_NAMES))


class StatusRow(Protocol):
    """A row of `renderable`: every column of the status, then every column of its author's
    account (prefixed `author_`; `as_account` reads them all), then the viewer's `favourited`. At
    run time it is SQLAlchemy's `Row`, read by name and by position: this declares what the code
    reads by name, for the type checker."""

    id: int
    account_id: int
    text: str
    content: str
    spoiler_text: str
    sensitive: bool
    visibility: str
    language: str | None
    in_reply_to_id: int | None
    in_reply_to_account_id: int | None
    mentions: list[dict[str, Any]]
    tags: list[str]
    replies_count: int
    reblogs_count: int
    favourites_count: int
    version: int
    application_id: str | None
    created_at: datetime
    edited_at: datetime | None
    author_id: int
    author_username: str
    favourited: bool

    def __getitem__(self, index: slice, /) -> tuple[Any, ...]: ...


def as_account(row: StatusRow) -> dict[str, Any]:
    """The account columns of a row of `renderable`, without their prefix. By position: a page
    renders one per status, and 25 look-ups by name cost several times one slice."""
    return dict(zip(ACCOUNT_NAMES, row[ACCOUNT_SLICE], strict=True))


def follows(viewer_id: int | BindParameter[int], author_id: ColumnElement[int]) -> ColumnElement[bool]:
    return exists().where(
        Follow.account_id == viewer_id, Follow.target_account_id == author_id, Follow.active.is_(True)
    )


def _mentions(viewer_id: int, status_id: ColumnElement[int]) -> ColumnElement[bool]:
    return exists().where(Mention.status_id == status_id, Mention.account_id == viewer_id)


def visible_to(viewer_id: int | None, s: FromClause = statuses) -> ColumnElement[bool]:
    if viewer_id is None:
        return s.c.visibility.in_(OPEN_VISIBILITIES)
    return or_(
        s.c.visibility.in_(OPEN_VISIBILITIES),
        s.c.account_id == viewer_id,
        _mentions(viewer_id, s.c.id),
        and_(s.c.visibility == "private", follows(viewer_id, s.c.account_id)),
    )


RenderableSelect = Select[*tuple[Any, ...]]


def renderable(
    viewer_id: int | BindParameter[int] | None,
    source: FromClause | None = None,
    onclause: ColumnElement[bool] | None = None,
) -> RenderableSelect:
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


# -- paging -------------------------------------------------------------------------------------

Bound = int | BindParameter[int]


@dataclass(frozen=True)
class PageBounds:
    """A page's cursors and limit as bind parameters: for a statement built once and executed with
    each page's values (see `timelines.repository`)."""

    max_id: Bound | None
    since_id: Bound | None
    min_id: Bound | None
    limit: Bound


def paged(
    stmt: Select[*Columns],
    cursor: ColumnElement[int] | QueryableAttribute[int],
    page: Page | PageBounds,
) -> Select[*Columns]:
    """Mastodon's cursors: `max_id` (older than), `since_id` (newer than, newest first) and
    `min_id` (the page just newer than it: fetched oldest first, `in_page_order` flips it)."""
    if page.max_id is not None:
        stmt = stmt.where(cursor < page.max_id)
    if page.since_id is not None:
        stmt = stmt.where(cursor > page.since_id)
    if page.min_id is not None:
        return stmt.where(cursor > page.min_id).order_by(cursor.asc()).limit(page.limit)
    return stmt.order_by(cursor.desc()).limit(page.limit)


def in_page_order(rows: Sequence[T], page: Page) -> list[T]:
    return list(reversed(rows)) if page.min_id is not None else list(rows)


# -- reads ----------------------------------------------------------------------------------------


def visible_statuses(session: Session, ids: Sequence[int], viewer_id: int | None) -> list[StatusRow]:
    """The visible ones among `ids`, ready to render, in no particular order."""
    if not ids:
        return []
    stmt = renderable(viewer_id).where(statuses.c.id.in_(list(ids)), visible_to(viewer_id))
    return cast("list[StatusRow]", list(session.execute(stmt).all()))


def visible_status(session: Session, status_id: int | None, viewer_id: int | None) -> StatusRow | None:
    if status_id is None:
        return None
    rows = visible_statuses(session, [status_id], viewer_id)
    return rows[0] if rows else None


def status_by_id(session: Session, status_id: int) -> Status | None:
    return session.get(Status, status_id)


def ancestor_ids(session: Session, start: int | None, limit: int) -> list[int]:
    """The chain of statuses `start` begins (itself, what it replies to, ...), at most `limit`:
    one recursive query up `in_reply_to_id`, by primary key."""
    if start is None:
        return []
    walk = (
        select(statuses.c.id, statuses.c.in_reply_to_id, literal(1).label("depth"))
        .where(statuses.c.id == start)
        .cte(recursive=True)
    )
    parent = statuses.alias("parent")
    walk = walk.union_all(
        select(parent.c.id, parent.c.in_reply_to_id, walk.c.depth + 1)
        .where(parent.c.id == walk.c.in_reply_to_id)
        .where(walk.c.depth < limit)
    )
    return list(session.scalars(select(walk.c.id)))


def descendant_ids(session: Session, root: int, limit: int) -> list[int]:
    """The replies below `root`, at any depth, the oldest `limit`: one recursive query down the
    `(in_reply_to_id, id)` index."""
    walk = (
        select(statuses.c.id, literal(1).label("depth"))
        .where(statuses.c.in_reply_to_id == root)
        .cte(recursive=True)
    )
    child = statuses.alias("child")
    walk = walk.union_all(
        select(child.c.id, walk.c.depth + 1)
        .where(child.c.in_reply_to_id == walk.c.id)
        .where(walk.c.depth < limit)
    )
    return list(session.scalars(select(walk.c.id).order_by(walk.c.id).limit(limit)))


# -- writes (and the accounts they need) ------------------------------------------------------


def account(session: Session, account_id: int, *, fresh: bool = False) -> Account | None:
    """`fresh`: read again, past what the session already holds (after an upsert in SQL)."""
    if not fresh:
        return session.get(Account, account_id)
    return session.scalar(
        select(Account).where(Account.id == account_id).execution_options(populate_existing=True)
    )


def accounts_by_username(session: Session, usernames: Sequence[str]) -> list[Account]:
    if not usernames:
        return []
    return list(session.scalars(select(Account).where(func.lower(Account.username).in_(list(usernames)))))


def lock_author(session: Session, account_id: int) -> None:
    """Serialises posting with changes to who follows the author (see `fan_out`)."""
    session.execute(select(Account.id).where(Account.id == account_id).with_for_update())


def add_status(session: Session, status: Status) -> None:
    session.add(status)
    session.flush()


def add_mentions(session: Session, status_id: int, account_ids: Sequence[int], *, new: bool = False) -> None:
    """Mentions (again) these accounts; earlier mentions an edit dropped stay, silent. `new`: a
    status just created, with no earlier mentions to silence (a statement saved)."""
    if not new:
        session.execute(update(Mention).where(Mention.status_id == status_id).values(silent=True))
    if not account_ids:
        return
    insert = dialect_insert(session)(Mention).values(
        [{"status_id": status_id, "account_id": a, "silent": False} for a in account_ids]
    )
    session.execute(
        insert.on_conflict_do_update(index_elements=["status_id", "account_id"], set_={"silent": False})
    )


def set_tags(session: Session, status_id: int, names: Sequence[str], *, new: bool = False) -> None:
    """The status's hashtags are these; `new`: a status just created, with none to replace."""
    if not new:
        session.execute(delete(StatusTag).where(StatusTag.status_id == status_id))
    if not names:
        return
    found = _tag_ids(session, names)
    missing = [name for name in names if name not in found]
    if missing:
        # Only for tags new to the service: an insert of an existing name, even one that does
        # nothing, waits for every other transaction inserting that name (posts with the same
        # hashtag would commit one after the other).
        now = datetime.now(UTC)
        session.execute(
            dialect_insert(session)(Tag)
            .values([{"id": new_id(), "name": name, "created_at": now} for name in missing])
            .on_conflict_do_nothing(index_elements=["name"])
        )
        found |= _tag_ids(session, missing)
    tag_ids = found.values()
    session.execute(
        dialect_insert(session)(StatusTag)
        .values([{"tag_id": tag_id, "status_id": status_id} for tag_id in tag_ids])
        .on_conflict_do_nothing(index_elements=["tag_id", "status_id"])
    )


def _tag_ids(session: Session, names: Sequence[str]) -> dict[str, int]:
    return {
        name: tag_id
        for name, tag_id in session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(list(names))))
    }


def counts_towards_replies(visibility: str) -> bool:
    """Mastodon counts (replies of a post, posts of an account) only what everyone may see."""
    return visibility in OPEN_VISIBILITIES


def change_replies_count(session: Session, status_id: int, delta: int) -> None:
    session.execute(
        update(Status).where(Status.id == status_id).values(replies_count=Status.replies_count + delta)
    )


def change_statuses_count(
    session: Session, account_id: int, delta: int, last_status_at: datetime | None
) -> None:
    values: dict[str, Any] = {"statuses_count": Account.statuses_count + delta}
    if last_status_at is not None:
        values["last_status_at"] = last_status_at
    session.execute(update(Account).where(Account.id == account_id).values(**values))


def fan_out(session: Session, status: Status, mentioned: Sequence[int]) -> None:
    """Writes the status into the home feed of its author and of each follower who may see it
    there, as Mastodon's FanOutOnWriteService and FeedManager decide: a direct post only to the
    followers it mentions; a reply to someone else only to followers who are that someone or
    follow them.

    The caller holds the author's account row lock (`lock_author`), as a follow or unfollow of the
    author does while it merges or prunes feeds: either this status is committed before that
    handler reads the author's statuses, or the follow change is committed before this reads the
    followers; never neither (a post missing from a new follower's feed)."""
    author = status.account_id
    recipients = select(Follow.account_id).where(Follow.target_account_id == author, Follow.active.is_(True))
    if status.visibility == "direct":
        recipients = recipients.where(Follow.account_id.in_(list(mentioned) or [0]))
    replied_to = status.in_reply_to_account_id
    if replied_to is not None and replied_to != author:
        f2 = Follow.__table__.alias("replied_to_follow")
        reader_follows_replied_to = exists().where(
            f2.c.account_id == Follow.account_id, f2.c.target_account_id == replied_to, f2.c.active.is_(True)
        )
        recipients = recipients.where(or_(Follow.account_id == replied_to, reader_follows_replied_to))
    readers = union(select(literal(author, BigInteger).label("account_id")), recipients).subquery()
    # `WHERE true`: SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT to parse it.
    rows = select(readers.c.account_id, literal(status.id, BigInteger), literal(author, BigInteger)).where(
        true()
    )
    session.execute(
        dialect_insert(session)(HomeFeed)
        .from_select(["account_id", "status_id", "author_id"], rows)
        .on_conflict_do_nothing(index_elements=["account_id", "status_id"])
    )


def remove_from_feeds(session: Session, status: Status) -> None:
    """Every home feed row of the status, found by primary key: they can only be in the feeds of
    the author, the author's followers and the accounts it mentions (an unfollow took the rest)."""
    readers = union(
        select(literal(status.account_id, BigInteger)),
        select(Follow.account_id).where(Follow.target_account_id == status.account_id),
        select(Mention.account_id).where(Mention.status_id == status.id),
    )
    session.execute(delete(HomeFeed).where(HomeFeed.status_id == status.id, HomeFeed.account_id.in_(readers)))


def delete_status(session: Session, status: Status) -> None:
    remove_from_feeds(session, status)
    for table, column in (
        (Favourite, Favourite.status_id),
        (Mention, Mention.status_id),
        (StatusTag, StatusTag.status_id),
        (StatusEdit, StatusEdit.status_id),
    ):
        session.execute(delete(table).where(column == status.id))
    session.execute(delete(Status).where(Status.id == status.id))


def status_for_update(session: Session, status_id: int) -> Status | None:
    """The status, locked until the transaction ends (None: deleted meanwhile, by a transaction
    that committed while this one waited for the row)."""
    return session.scalar(
        select(Status)
        .where(Status.id == status_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def own_status_for_update(session: Session, status_id: int | None, account_id: int) -> Status | None:
    if status_id is None:
        return None
    return session.scalar(
        select(Status).where(Status.id == status_id, Status.account_id == account_id).with_for_update()
    )


def edits(session: Session, status_id: int) -> list[StatusEdit]:
    return list(
        session.scalars(select(StatusEdit).where(StatusEdit.status_id == status_id).order_by(StatusEdit.id))
    )


def add_edit(session: Session, status: Status, at: datetime) -> None:
    session.add(
        StatusEdit(
            id=new_id(),
            status_id=status.id,
            account_id=status.account_id,
            text=status.text,
            content=status.content,
            spoiler_text=status.spoiler_text,
            sensitive=status.sensitive,
            language=status.language,
            created_at=at,
        )
    )
    session.flush()


# -- Idempotency-Key --------------------------------------------------------------------------


def claim_idempotency_key(
    session: Session, account_id: int, key: str, ttl: timedelta
) -> IdempotencyKey | None:
    """Takes the key for this request and returns None, or returns the live claim of an earlier
    request (committed: a concurrent one with the same key waits here for it on PostgreSQL)."""
    now = datetime.now(UTC)
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.account_id == account_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at < now - ttl,
        )
    )
    inserted = session.execute(
        dialect_insert(session)(IdempotencyKey)
        .values(account_id=account_id, key=key, created_at=now)
        .on_conflict_do_nothing(index_elements=["account_id", "key"])
    )
    if affected_rows(inserted) == 1:
        return None
    return session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.account_id == account_id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    )


def record_idempotency_result(
    session: Session,
    account_id: int,
    key: str,
    *,
    status_id: int | None = None,
    scheduled_status_id: int | None = None,
) -> None:
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.account_id == account_id, IdempotencyKey.key == key)
        .values(status_id=status_id, scheduled_status_id=scheduled_status_id)
    )


def purge_idempotency_keys(session: Session, older_than: datetime) -> int:
    return affected_rows(
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < older_than))
    )
