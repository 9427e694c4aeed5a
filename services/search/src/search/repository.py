"""Every query the search endpoints make of the replica: typed rows out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, bindparam, case, exists, func, select
from sqlalchemy.orm import Session

from search.models import Account, Favourite, Follow, Status, TagUse

# Built once, run with the ids bound (an `in_` of a literal list coerces every element per call).
IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_STATUSES = select(Status).where(Status.id.in_(IDS), Status.deleted.is_(False))
_ACCOUNTS = select(Account).where(Account.id.in_(IDS), Account.deleted.is_(False))


class StatusToRender(NamedTuple):
    """A status with what its rendering needs: its author and counts, and the viewer's flag."""

    id: int
    account_id: int
    visibility: str
    snapshot: dict[str, Any]
    author_snapshot: dict[str, Any]
    followers_count: int
    following_count: int
    statuses_count: int
    last_status_at: datetime | None
    favourites_count: int
    favourited: bool


_FAVOURITES_COUNT = (
    select(func.count()).where(Favourite.status_id == Status.id, Favourite.active.is_(True)).scalar_subquery()
)
_VIEWER_FAVOURITED = exists().where(
    Favourite.status_id == Status.id, Favourite.account_id == bindparam("viewer"), Favourite.active.is_(True)
)
_TO_RENDER = (
    select(
        Status.id,
        Status.account_id,
        Status.visibility,
        Status.snapshot,
        Account.snapshot.label("author_snapshot"),
        Account.followers_count,
        Account.following_count,
        Account.statuses_count,
        Account.last_status_at,
        _FAVOURITES_COUNT.label("favourites_count"),
        _VIEWER_FAVOURITED.label("favourited"),
    )
    .join(Account, Account.id == Status.account_id)
    .where(Status.id.in_(IDS), Status.deleted.is_(False), Account.deleted.is_(False))
)


def statuses_to_render(
    session: Session, ids: Sequence[int], viewer_id: int | None
) -> dict[int, StatusToRender]:
    """The statuses (not deleted, with an author not deleted) by id: one round trip, Core rows on
    the session's connection (the ORM's per-row work is most of what a search result costs)."""
    if not ids:
        return {}
    rows = session.connection().execute(_TO_RENDER, {"ids": list(ids), "viewer": viewer_id})
    return {row.id: StatusToRender(*row) for row in rows}


def statuses(session: Session, ids: Sequence[int]) -> dict[int, Status]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(_STATUSES, {"ids": list(ids)})}


def accounts(session: Session, ids: Sequence[int]) -> dict[int, Account]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(_ACCOUNTS, {"ids": list(ids)})}


def accounts_by_username(session: Session, usernames: Sequence[str]) -> dict[str, Account]:
    """Lower-cased usernames to their accounts."""
    names = sorted({name.lower() for name in usernames})
    if not names:
        return {}
    rows = session.scalars(
        select(Account).where(func.lower(Account.username).in_(names), Account.deleted.is_(False))
    )
    return {row.username.lower(): row for row in rows}


def followed_ids(session: Session, account_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Follow.target_account_id).where(Follow.account_id == account_id, Follow.active.is_(True))
        )
    )


@dataclass(frozen=True)
class TagCount:
    name: str
    recent_uses: int


def tags_by_prefix(session: Session, prefix: str, since: date, offset: int, limit: int) -> list[TagCount]:
    """Hashtags starting with `prefix` (lower case), most used since `since` first."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    recent = func.sum(case((TagUse.day >= since, 1), else_=0))
    rows = session.execute(
        select(TagUse.name, recent.label("recent"))
        .where(TagUse.name >= prefix, TagUse.name < upper)
        .group_by(TagUse.name)
        .order_by(recent.desc(), func.length(TagUse.name), TagUse.name)
        .offset(offset)
        .limit(limit)
    )
    return [TagCount(name, int(uses or 0)) for name, uses in rows]


@dataclass(frozen=True)
class TagDay:
    name: str
    day: date
    uses: int
    accounts: int


def tag_history(session: Session, names: Sequence[str], since: date) -> list[TagDay]:
    if not names:
        return []
    rows = session.execute(
        select(TagUse.name, TagUse.day, func.count(), func.count(func.distinct(TagUse.account_id)))
        .where(TagUse.name.in_(list(names)), TagUse.day >= since)
        .group_by(TagUse.name, TagUse.day)
    )
    return [TagDay(name, day, int(uses), int(people)) for name, day, uses, people in rows]
