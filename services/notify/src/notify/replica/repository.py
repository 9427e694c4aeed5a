"""Every query on the replica of what the users and posts services own: accounts, follows,
statuses, favourites. The rules of applying events to it live in `replica/service.py`; the other
areas (notifications, email, rendering, streaming) read it through these functions. Flushes, never
commits."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from microblog_common.events.versions import applied_version
from microblog_common.sql import affected_rows, dialect_insert
from notify.models import Account, Favourite, Follow, Status, messaging

# -- accounts ---------------------------------------------------------------------------------


def account(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def account_for_update(session: Session, account_id: int) -> Account | None:
    """The account's row, locked until the transaction ends (two snapshots of one account queue)."""
    return session.get(Account, account_id, with_for_update=True)


def accounts(session: Session, ids: Collection[int]) -> list[Account]:
    if not ids:
        return []
    return list(session.scalars(select(Account).where(Account.id.in_(ids))))


def add_account(session: Session, row: Account) -> None:
    session.add(row)
    session.flush()


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
    session.execute(update(Account).where(Account.id == account_id).values(email=email, locale=locale))


def change_statuses_count(
    session: Session, account_id: int, delta: int, *, last_status_at: datetime | None = None
) -> None:
    """Counts a status in (or out of) its author's profile; a newer `last_status_at` is kept."""
    values: dict[str, object] = {"statuses_count": Account.statuses_count + delta}
    if last_status_at is not None:
        values["last_status_at"] = func.coalesce(
            func.max(Account.last_status_at, last_status_at)
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(Account.last_status_at, last_status_at),
            last_status_at,
        )
    session.execute(update(Account).where(Account.id == account_id).values(values))


def delete_account(session: Session, account_id: int) -> None:
    """The account, its follows either way, its favourites and its statuses."""
    session.execute(delete(Account).where(Account.id == account_id))
    session.execute(
        delete(Follow).where((Follow.account_id == account_id) | (Follow.target_account_id == account_id))
    )
    session.execute(delete(Favourite).where(Favourite.account_id == account_id))
    session.execute(delete(Status).where(Status.account_id == account_id))


# -- follows ----------------------------------------------------------------------------------


def follow_for_update(session: Session, follower: int, followee: int) -> Follow | None:
    return session.get(Follow, (follower, followee), with_for_update=True)


def add_follow(session: Session, row: Follow) -> None:
    session.add(row)


def change_follow_counts(session: Session, follower: int, followee: int, delta: int) -> None:
    """The follower's `following_count` and the followee's `followers_count`."""
    session.execute(
        update(Account).where(Account.id == follower).values(following_count=Account.following_count + delta)
    )
    session.execute(
        update(Account).where(Account.id == followee).values(followers_count=Account.followers_count + delta)
    )


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


def following_of(session: Session, account_ids: Collection[int]) -> dict[int, dict[int, int]]:
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


def status(session: Session, status_id: int) -> Status | None:
    return session.get(Status, status_id)


def status_for_update(session: Session, status_id: int) -> Status | None:
    return session.get(Status, status_id, with_for_update=True)


def statuses(session: Session, ids: Collection[int]) -> list[Status]:
    if not ids:
        return []
    return list(session.scalars(select(Status).where(Status.id.in_(ids))))


def add_status(session: Session, row: Status) -> None:
    session.add(row)


def insert_status_if_absent(session: Session, row: Status) -> None:
    """Adds the status (all of its columns given) unless one with its id is there already."""
    values = {c.name: getattr(row, c.key) for c in Status.__table__.columns}
    stmt = dialect_insert(session)(Status).values(values)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))


def status_version_applied(session: Session, status_id: int) -> int | None:
    """The newest version of the status the consumer has applied here (None: none yet)."""
    return applied_version(session, messaging.applied_versions, "status", str(status_id))


def change_replies_count(session: Session, status_id: int, delta: int) -> None:
    """Never below zero (a reply counted before its parent arrived is not counted in)."""
    session.execute(
        update(Status)
        .where(Status.id == status_id)
        .values(replies_count=func.max(Status.replies_count + delta, 0)
                if session.get_bind().dialect.name == "sqlite"
                else func.greatest(Status.replies_count + delta, 0))
    )  # fmt: skip


def delete_status(session: Session, status_id: int) -> None:
    """The status and who favourited it."""
    session.execute(delete(Status).where(Status.id == status_id))
    session.execute(delete(Favourite).where(Favourite.status_id == status_id))


def repliers(session: Session, status_id: int) -> list[int]:
    """Authors of the replies to a status."""
    return list(
        session.scalars(select(Status.account_id).where(Status.in_reply_to_id == status_id).distinct())
    )


# -- favourites -------------------------------------------------------------------------------


def insert_favourite(session: Session, status_id: int, account_id: int, at: datetime) -> bool:
    """Records the favourite; returns whether it is new here."""
    stmt = dialect_insert(session)(Favourite).values(
        status_id=status_id, account_id=account_id, created_at=at
    )
    return (
        affected_rows(
            session.execute(stmt.on_conflict_do_nothing(index_elements=["status_id", "account_id"]))
        )
        == 1
    )


def change_favourites_count(session: Session, status_id: int, delta: int) -> None:
    session.execute(
        update(Status).where(Status.id == status_id).values(favourites_count=Status.favourites_count + delta)
    )


def favourited_by(session: Session, status_id: int) -> list[int]:
    return list(session.scalars(select(Favourite.account_id).where(Favourite.status_id == status_id)))


def favourited_among_accounts(session: Session, status_id: int, account_ids: Collection[int]) -> set[int]:
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


def favourited_among(session: Session, viewer_id: int, status_ids: Collection[int]) -> set[int]:
    """Which of these statuses the viewer favourited."""
    ids = list(status_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Favourite.status_id).where(Favourite.account_id == viewer_id, Favourite.status_id.in_(ids))
        )
    )
