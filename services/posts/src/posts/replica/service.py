"""The replica of what the users service owns, kept from its events: account snapshots and the
follow graph. The shared consumer applies each account's and each follow pair's events in version
order and drops older ones (`microblog_common.events.versions`), so these functions just apply what
they are given. With the replica a Status is rendered, and a home feed filled, without ever calling
the users service.

Each function runs inside the inbox consumer's transaction: flushes, never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import BigInteger, and_, delete, exists, func, literal, or_, select, true, update
from sqlalchemy.orm import Session

from microblog_common.contracts.users import AccountSnapshot
from microblog_common.events.versions import applied_version, claim_version
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
    messaging,
)

log = structlog.get_logger(__name__)

# What a snapshot carries (the profile, the posting defaults); the counts are this service's own.
SNAPSHOT_FIELDS = (
    "username", "acct", "display_name", "note", "url", "avatar", "avatar_static", "header",
    "header_static", "locked", "bot", "discoverable", "indexable", "hide_collections", "fields",
    "created_at", "version", "default_privacy", "default_sensitive", "default_language",
)  # fmt: skip


# The posting defaults a post may take from its author; any other `default_privacy` counts as public.
POSTING_PRIVACIES = ("public", "unlisted", "private")


def apply_snapshot(session: Session, snapshot: AccountSnapshot) -> None:
    """An account snapshot from a `user.*` event (the consumer has claimed its version)."""
    values = snapshot.model_dump(include=set(SNAPSHOT_FIELDS))
    if values["default_privacy"] not in POSTING_PRIVACIES:
        values["default_privacy"] = "public"
    upsert_account(session, int(snapshot.id), values)


def apply_fetched_snapshot(session: Session, snapshot: AccountSnapshot) -> bool:
    """An account snapshot read from the users service in a request: claimed under the same rule
    as the events' (so whichever of the two arrives second, if not newer, changes nothing, and an
    older event arriving later can't undo it), then stored. Returns whether it was newer."""
    # Read first: claiming locks the account's version row until commit even when it is not newer,
    # and posts leaving visibility to the defaults read the author's snapshot on every post.
    applied = applied_version(session, messaging.applied_versions, "account", snapshot.id)
    if applied is not None and applied >= snapshot.version:
        return False
    if not claim_version(session, messaging.applied_versions, "account", snapshot.id, snapshot.version):
        return False
    apply_snapshot(session, snapshot)
    return True


def _active_follows(condition: Any) -> Any:
    return (
        select(func.count()).select_from(Follow).where(condition, Follow.active.is_(True)).scalar_subquery()
    )


def upsert_account(session: Session, account_id: int, snapshot: dict[str, Any]) -> None:
    """Stores the snapshot (its version was checked by whoever claimed it: the consumer)."""
    values = {name: snapshot[name] for name in SNAPSHOT_FIELDS}
    # Follows of the account may have arrived before its first snapshot: count them in.
    counted = {
        "followers_count": _active_follows(Follow.target_account_id == account_id),
        "following_count": _active_follows(Follow.account_id == account_id),
    }
    stmt = dialect_insert(session)(Account).values(id=account_id, **values, **counted)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Account.id], set_={name: stmt.excluded[name] for name in SNAPSHOT_FIELDS}
    )
    session.execute(stmt)


def _change_follow_counts(session: Session, follower: int, followee: int, delta: int) -> None:
    """Also locks both account rows (in id order, so two handlers never wait on each other), before
    the home feed is merged or pruned: a post by the followee being written at the same moment
    holds the same lock (see `statuses.repository.fan_out`), so one of the two sees the other."""
    counts = {follower: "following_count", followee: "followers_count"}
    for account_id in sorted(counts):
        column = getattr(Account, counts[account_id])
        session.execute(update(Account).where(Account.id == account_id).values({column: column + delta}))


def set_follow(
    session: Session, follower: int, followee: int, *, active: bool, at: datetime, backfill: int
) -> None:
    """Applies a follow or unfollow that happened at `at`. A new follow merges the followee's
    latest posts into the follower's home feed; an unfollow takes them out."""
    current = session.get(Follow, (follower, followee), with_for_update=True)
    was_active = current is not None and current.active
    if current is None:
        # A concurrent handler may insert the pair first: the primary key makes one of them fail
        # and the bus retries it, when it finds the row.
        session.add(Follow(account_id=follower, target_account_id=followee, active=active, changed_at=at))
    else:
        current.active, current.changed_at = active, at
    session.flush()
    if active and not was_active:
        _change_follow_counts(session, follower, followee, +1)
        merge_into_home(session, follower, followee, backfill)
    elif was_active and not active:
        _change_follow_counts(session, follower, followee, -1)
        session.execute(
            delete(HomeFeed).where(HomeFeed.account_id == follower, HomeFeed.author_id == followee)
        )


def merge_into_home(session: Session, reader: int, author: int, limit: int) -> None:
    """The author's latest posts the reader may see in a home feed (the rules of fan-out on write:
    not direct unless it mentions the reader, not a reply to someone the reader doesn't follow)."""
    if limit <= 0:
        return
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


def delete_account(session: Session, account_id: int) -> None:
    """Everything of a deleted account: its statuses (and what hangs off them), its favourites, its
    follows and its home feed. Other readers' feed rows of its posts are left to dangle: a home
    page skips rows whose status is gone."""
    own = select(Status.id).where(Status.account_id == account_id)
    parents = list(
        session.scalars(
            select(Status.in_reply_to_id)
            .where(Status.account_id == account_id, Status.in_reply_to_id.is_not(None))
            .distinct()
        )
    )
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
    log.info("account_deleted", account_id=account_id)


def _recount(session: Session, parents: list[int], favourited: list[int]) -> None:
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
