"""Every statement over the replica of what the users service owns: account snapshots, the follow
graph and the counts kept from it, the home feed rows a follow change merges or prunes, and the
removal of a deleted account's everything. Flushes, never commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ScalarSelect,
    and_,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from microblog_common.sql import dialect_insert
from posts.models import (
    Account,
    Favourite,
    Follow,
    HomeFeed,
    Mention,
    ScheduledStatus,
    Status,
    StatusEdit,
    StatusTag,
)


def _active_follows(condition: ColumnElement[bool]) -> ScalarSelect[int]:
    return (
        select(func.count()).select_from(Follow).where(condition, Follow.active.is_(True)).scalar_subquery()
    )


def upsert_account(session: Session, account_id: int, values: Mapping[str, Any]) -> None:
    """Stores the snapshot's `values` (every one of them replaces the held one; the counts are this
    service's own, so only a new row gets them, counted from the follows that arrived first)."""
    counted = {
        "followers_count": _active_follows(Follow.target_account_id == account_id),
        "following_count": _active_follows(Follow.account_id == account_id),
    }
    stmt = dialect_insert(session)(Account).values(id=account_id, **values, **counted)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Account.id], set_={name: stmt.excluded[name] for name in values}
    )
    session.execute(stmt)


def follow_for_update(session: Session, follower: int, followee: int) -> Follow | None:
    return session.get(Follow, (follower, followee), with_for_update=True)


def add_follow(session: Session, follower: int, followee: int, *, active: bool, at: datetime) -> None:
    # A concurrent handler may insert the pair first: the primary key makes one of them fail and
    # the bus retries it, when it finds the row.
    session.add(Follow(account_id=follower, target_account_id=followee, active=active, changed_at=at))
    session.flush()


def change_follow_counts(session: Session, follower: int, followee: int, delta: int) -> None:
    """Also locks both account rows (in id order, so two handlers never wait on each other), before
    the home feed is merged or pruned: a post by the followee being written at the same moment
    holds the same lock (see `statuses.repository.fan_out`), so one of the two sees the other."""
    counts = {follower: "following_count", followee: "followers_count"}
    for account_id in sorted(counts):
        column = getattr(Account, counts[account_id])
        session.execute(update(Account).where(Account.id == account_id).values({column: column + delta}))


def merge_into_home(session: Session, reader: int, author: int, limit: int) -> None:
    """The author's latest `limit` posts the reader may see in a home feed (the rules of fan-out on
    write: not direct unless it mentions the reader, not a reply to someone the reader doesn't
    follow), into the reader's feed."""
    s = Status.__table__
    mentioned = exists().where(Mention.status_id == s.c.id, Mention.account_id == reader)
    follows_replied_to = exists().where(
        Follow.account_id == reader, Follow.target_account_id == s.c.in_reply_to_account_id, Follow.active
    )
    latest = (
        select(s.c.id)
        .where(s.c.account_id == author)
        .where(or_(s.c.visibility != "direct", mentioned))
        .where(
            or_(
                s.c.in_reply_to_account_id.is_(None),
                s.c.in_reply_to_account_id == s.c.account_id,
                s.c.in_reply_to_account_id == reader,
                follows_replied_to,
            )
        )
        .order_by(s.c.id.desc())
        .limit(limit)
        .subquery()
    )
    # `WHERE true`: SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT to parse it.
    rows = select(literal(reader, BigInteger), latest.c.id, literal(author, BigInteger)).where(true())
    stmt = dialect_insert(session)(HomeFeed).from_select(["account_id", "status_id", "author_id"], rows)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["account_id", "status_id"]))


def remove_from_home(session: Session, reader: int, author: int) -> None:
    """The author's posts, out of the reader's home feed."""
    session.execute(delete(HomeFeed).where(HomeFeed.account_id == reader, HomeFeed.author_id == author))


def delete_account(session: Session, account_id: int) -> None:
    """Everything of a deleted account: its statuses (and what hangs off them), its favourites, its
    follows and its home feed; the counts of other posts that lost replies or favourites and of
    the accounts it followed or was followed by. Other readers' feed rows of its posts are left to
    dangle: a home page skips rows whose status is gone."""
    own = select(Status.id).where(Status.account_id == account_id)
    parents = [
        parent
        for parent in session.scalars(
            select(Status.in_reply_to_id)
            .where(Status.account_id == account_id, Status.in_reply_to_id.is_not(None))
            .distinct()
        )
        if parent is not None
    ]
    favourited = list(session.scalars(select(Favourite.status_id).where(Favourite.account_id == account_id)))
    for table, column in (
        (Favourite, Favourite.status_id),
        (Mention, Mention.status_id),
        (StatusTag, StatusTag.status_id),
        (StatusEdit, StatusEdit.status_id),
    ):
        session.execute(delete(table).where(column.in_(own)))
    session.execute(delete(Status).where(Status.account_id == account_id))
    session.execute(delete(Favourite).where(Favourite.account_id == account_id))
    session.execute(delete(ScheduledStatus).where(ScheduledStatus.account_id == account_id))
    session.execute(delete(HomeFeed).where(HomeFeed.account_id == account_id))
    followees = select(Follow.target_account_id).where(Follow.account_id == account_id, Follow.active)
    followers = select(Follow.account_id).where(Follow.target_account_id == account_id, Follow.active)
    session.execute(
        update(Account).where(Account.id.in_(followees)).values(followers_count=Account.followers_count - 1)
    )
    session.execute(
        update(Account).where(Account.id.in_(followers)).values(following_count=Account.following_count - 1)
    )
    session.execute(
        delete(Follow).where(or_(Follow.account_id == account_id, Follow.target_account_id == account_id))
    )
    session.execute(delete(Account).where(Account.id == account_id))
    # Counts of other posts that lost replies or favourites, recounted from what is left.
    _recount(session, parents, favourited)


def _recount(session: Session, parents: Sequence[int], favourited: Sequence[int]) -> None:
    replies = Status.__table__.alias("replies")
    if parents:
        session.execute(
            update(Status)
            .where(Status.id.in_(parents))
            .values(
                replies_count=select(func.count())
                .select_from(replies)
                .where(
                    and_(
                        replies.c.in_reply_to_id == Status.id,
                        replies.c.visibility.in_(("public", "unlisted")),
                    )
                )
                .scalar_subquery()
            )
        )
    if favourited:
        session.execute(
            update(Status)
            .where(Status.id.in_(favourited))
            .values(
                favourites_count=select(func.count())
                .select_from(Favourite)
                .where(Favourite.status_id == Status.id)
                .scalar_subquery()
            )
        )
