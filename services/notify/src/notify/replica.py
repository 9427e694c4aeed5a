"""The replica of what the users and posts services own, kept from their events: account snapshots
(with the email address and locale emails need), the follow graph, status snapshots and who
favourited them. With it a Notification renders, and its rules decide, without calling another
service. Every function runs in the consumer's transaction: flushes, never commits.

The shared consumer applies each aggregate's events in version order and drops older ones
(`microblog_common.events.versions`), possibly with gaps, so each snapshot is applied as the whole
current state (an upsert), and the caller learns whether it was the first sight of the aggregate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, delete, func, select, update
from sqlalchemy.orm import Session

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot
from microblog_common.events.versions import applied_version
from microblog_common.sql import affected_rows, dialect_insert
from notify.models import Account, Favourite, Follow, Status, messaging

# Visible to anyone; the others need a relation to the author.
OPEN_VISIBILITIES = ("public", "unlisted")


def affected(session: Session, statement: Executable) -> int:
    """Rows an INSERT/UPDATE/DELETE changed."""
    return affected_rows(session.execute(statement))


# -- accounts ---------------------------------------------------------------------------------


def upsert_account(
    session: Session, snapshot: AccountSnapshot, *, email: str | None = None, locale: str | None = None
) -> bool:
    """Stores the snapshot (email and locale only when given); returns whether the account is new."""
    account_id = int(snapshot.id)
    data = snapshot.model_dump(mode="json", exclude={"email", "locale"})
    existing = session.get(Account, account_id, with_for_update=True)
    if existing is None:
        counts = follow_counts(session, account_id)
        session.add(
            Account(
                id=account_id,
                username=snapshot.username,
                snapshot=data,
                email=email,
                locale=locale,
                followers_count=counts[0],
                following_count=counts[1],
            )
        )
        session.flush()
        return True
    existing.username, existing.snapshot = snapshot.username, data
    if email is not None:
        existing.email = email
    if locale is not None:
        existing.locale = locale
    return False


def follow_counts(session: Session, account_id: int) -> tuple[int, int]:
    """Followers and following of an account, from the graph (follows may arrive before it)."""
    followers = session.scalar(
        select(func.count()).where(Follow.target_account_id == account_id, Follow.active.is_(True))
    )
    following = session.scalar(
        select(func.count()).where(Follow.account_id == account_id, Follow.active.is_(True))
    )
    return int(followers or 0), int(following or 0)


def set_contact(session: Session, account_id: int, email: str, locale: str) -> None:
    """The address and locale a password-reset request carries: the users service's current ones."""
    session.execute(update(Account).where(Account.id == account_id).values(email=email, locale=locale))


def delete_account(session: Session, account_id: int) -> None:
    session.execute(delete(Account).where(Account.id == account_id))
    session.execute(
        delete(Follow).where((Follow.account_id == account_id) | (Follow.target_account_id == account_id))
    )
    session.execute(delete(Favourite).where(Favourite.account_id == account_id))
    session.execute(delete(Status).where(Status.account_id == account_id))


# -- follows ----------------------------------------------------------------------------------


def set_follow(
    session: Session, follower: int, followee: int, *, active: bool, notify: bool, version: int
) -> bool:
    """Applies a follow or an unfollow; returns whether the pair's `active` state changed."""
    current = session.get(Follow, (follower, followee), with_for_update=True)
    was_active = current is not None and current.active
    if current is None:
        session.add(
            Follow(
                account_id=follower, target_account_id=followee, active=active, notify=notify, version=version
            )
        )
    else:
        current.active, current.notify, current.version = active, notify if active else False, version
    session.flush()
    if active == was_active:
        return False
    delta = 1 if active else -1
    session.execute(
        update(Account).where(Account.id == follower).values(following_count=Account.following_count + delta)
    )
    session.execute(
        update(Account).where(Account.id == followee).values(followers_count=Account.followers_count + delta)
    )
    return True


def follows(session: Session, follower: int, followee: int) -> bool:
    return bool(
        session.scalar(
            select(Follow.active).where(Follow.account_id == follower, Follow.target_account_id == followee)
        )
    )


def followers_to_notify(session: Session, account_id: int) -> list[int]:
    """Active followers who asked to be told of the account's posts."""
    return list(
        session.scalars(
            select(Follow.account_id).where(
                Follow.target_account_id == account_id, Follow.active.is_(True), Follow.notify.is_(True)
            )
        )
    )


def following_of(session: Session, account_ids: Iterable[int]) -> dict[int, dict[int, int]]:
    """For each account, whom it follows (followee -> the pair's version): the live streams' graph."""
    ids = list(account_ids)
    graph: dict[int, dict[int, int]] = {account_id: {} for account_id in ids}
    if not ids:
        return graph
    rows = session.execute(
        select(Follow.account_id, Follow.target_account_id, Follow.version).where(
            Follow.account_id.in_(ids), Follow.active.is_(True)
        )
    )
    for follower, followee, version in rows:
        graph[follower][followee] = version
    return graph


# -- statuses ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    first_sight: bool  # its publication had not been applied here yet
    previous_mentions: frozenset[int]


def mentioned_ids(snapshot: StatusSnapshot) -> list[int]:
    return [int(m.id) for m in snapshot.mentions]


def counts_toward_profile(visibility: str) -> bool:
    return visibility != "direct"


def upsert_status(session: Session, snapshot: StatusSnapshot, version: int) -> StatusChange:
    """Stores the status as the snapshot says; the first sight also counts it (the author's
    statuses, its parent's replies)."""
    status_id = int(snapshot.id)
    current = session.get(Status, status_id, with_for_update=True)
    data = snapshot.model_dump(mode="json")
    fields: dict[str, Any] = {
        "account_id": int(snapshot.account_id),
        "visibility": snapshot.visibility,
        "in_reply_to_id": int(snapshot.in_reply_to_id) if snapshot.in_reply_to_id else None,
        "in_reply_to_account_id": int(snapshot.in_reply_to_account_id)
        if snapshot.in_reply_to_account_id
        else None,
        "mentioned_ids": mentioned_ids(snapshot),
        "snapshot": data,
        "version": version,
        "created_at": snapshot.created_at,
    }
    if current is not None and current.version > 0:
        previous = frozenset(current.mentioned_ids)
        for name, value in fields.items():
            setattr(current, name, value)
        return StatusChange(first_sight=False, previous_mentions=previous)
    if current is None:
        session.add(Status(id=status_id, **fields))
    else:  # known from a favourite's copy only
        for name, value in fields.items():
            setattr(current, name, value)
    session.flush()
    _count_status(session, snapshot, +1)
    return StatusChange(first_sight=True, previous_mentions=frozenset())


def _count_status(session: Session, snapshot: StatusSnapshot, delta: int) -> None:
    if counts_toward_profile(snapshot.visibility):
        values: dict[str, Any] = {"statuses_count": Account.statuses_count + delta}
        if delta > 0:
            values["last_status_at"] = func.coalesce(
                func.max(Account.last_status_at, snapshot.created_at)
                if session.get_bind().dialect.name == "sqlite"
                else func.greatest(Account.last_status_at, snapshot.created_at),
                snapshot.created_at,
            )
        session.execute(update(Account).where(Account.id == int(snapshot.account_id)).values(values))
    if snapshot.in_reply_to_id and snapshot.visibility in OPEN_VISIBILITIES:
        session.execute(
            update(Status)
            .where(Status.id == int(snapshot.in_reply_to_id))
            .values(replies_count=func.max(Status.replies_count + delta, 0)
                    if session.get_bind().dialect.name == "sqlite"
                    else func.greatest(Status.replies_count + delta, 0))
        )  # fmt: skip


def remember_from_favourite(session: Session, snapshot: StatusSnapshot) -> None:
    """A favourite carries the status's snapshot: kept (as version 0) when the status is not
    known yet, so the notification renders; its publication still does what it must when it comes."""
    if session.get(Status, int(snapshot.id)) is not None:
        return
    stmt = dialect_insert(session)(Status).values(
        id=int(snapshot.id),
        account_id=int(snapshot.account_id),
        visibility=snapshot.visibility,
        in_reply_to_id=int(snapshot.in_reply_to_id) if snapshot.in_reply_to_id else None,
        in_reply_to_account_id=int(snapshot.in_reply_to_account_id)
        if snapshot.in_reply_to_account_id
        else None,
        mentioned_ids=mentioned_ids(snapshot),
        snapshot=snapshot.model_dump(mode="json"),
        version=0,
        replies_count=0,
        favourites_count=0,
        created_at=snapshot.created_at,
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))


def status_was_deleted(session: Session, status_id: int) -> bool:
    """Versions of the status were applied here but it is gone: it was deleted."""
    applied = applied_version(session, messaging.applied_versions, "status", str(status_id))
    return applied is not None and session.get(Status, status_id) is None


def delete_status(session: Session, snapshot: StatusSnapshot) -> None:
    status_id = int(snapshot.id)
    current = session.get(Status, status_id)
    if current is not None and current.version > 0:
        _count_status(session, snapshot, -1)
    session.execute(delete(Status).where(Status.id == status_id))
    session.execute(delete(Favourite).where(Favourite.status_id == status_id))


def add_favourite(session: Session, status_id: int, account_id: int, at: datetime) -> bool:
    """Returns whether the favourite is new here."""
    stmt = dialect_insert(session)(Favourite).values(
        status_id=status_id, account_id=account_id, created_at=at
    )
    added = affected(session, stmt.on_conflict_do_nothing(index_elements=["status_id", "account_id"])) == 1
    if added:
        session.execute(
            update(Status).where(Status.id == status_id).values(favourites_count=Status.favourites_count + 1)
        )
    return bool(added)


def favourited_by(session: Session, status_id: int) -> list[int]:
    return list(session.scalars(select(Favourite.account_id).where(Favourite.status_id == status_id)))


def favourited_among_accounts(session: Session, status_id: int, account_ids: Iterable[int]) -> set[int]:
    """Which of these accounts favourited the status."""
    ids = list(account_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Favourite.account_id).where(
                Favourite.status_id == status_id, Favourite.account_id.in_(ids)
            )
        )
    )


def repliers(session: Session, status_id: int) -> list[int]:
    """Authors of the replies to a status."""
    return list(
        session.scalars(select(Status.account_id).where(Status.in_reply_to_id == status_id).distinct())
    )


def favourited_among(session: Session, viewer_id: int, status_ids: Iterable[int]) -> set[int]:
    ids = list(status_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Favourite.status_id).where(Favourite.account_id == viewer_id, Favourite.status_id.in_(ids))
        )
    )


# -- who may see a status ---------------------------------------------------------------------


def may_see(session: Session, viewer_id: int, status: Status) -> bool:
    """Mastodon's visibility: public and unlisted to anyone, private to the author, followers and
    mentioned accounts, direct to the author and mentioned accounts."""
    if status.visibility in OPEN_VISIBILITIES or viewer_id == status.account_id:
        return True
    if viewer_id in status.mentioned_ids:
        return True
    return status.visibility == "private" and follows(session, viewer_id, status.account_id)
