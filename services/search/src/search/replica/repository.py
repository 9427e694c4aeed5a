"""Every query that writes the replica (statuses, accounts, follows, favourites, hashtag uses), for
the events and the rebuild; the rules are in `replica/service.py`. (What searches read of it is in
`search/repository.py`, what the indexer reads in `indexing/repository.py`.) Flushes, never
commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from microblog_common.events.versions import claim_version
from microblog_common.sql import affected_rows, dialect_insert
from search.models import Account, Favourite, Follow, Status, TagUse, messaging

# -- versions -----------------------------------------------------------------------------------


def claim(session: Session, aggregate: str, subject: str, version: int) -> bool:
    """The shared version rule, for what a rebuild reads outside the consumer: whether `version`
    is newer than what was applied of the aggregate (and is now the applied one)."""
    return claim_version(session, messaging.applied_versions, aggregate, subject, version)


# -- statuses ---------------------------------------------------------------------------------


def status(session: Session, status_id: int) -> Status | None:
    """As the database has it now (what the session holds is read again)."""
    return session.get(Status, status_id, populate_existing=True)


def add_status(session: Session, row: Status) -> None:
    session.add(row)
    session.flush()


def update_status(
    session: Session,
    status_id: int,
    *,
    visibility: str,
    snapshot: dict[str, Any],
    changed_at: datetime,
    rebuild_mark: int | None,
) -> None:
    """A new snapshot of a status (a tombstone comes back to life): its document's revision grows;
    `rebuild_mark` is kept when None."""
    values: dict[str, object] = {
        "visibility": visibility,
        "snapshot": snapshot,
        "revision": Status.revision + 1,
        "deleted": False,
        "changed_at": changed_at,
    }
    if rebuild_mark is not None:
        values["rebuild_mark"] = rebuild_mark
    session.execute(update(Status).where(Status.id == status_id).values(**values))


def mark_status(session: Session, status_id: int, mark: int) -> None:
    session.execute(update(Status).where(Status.id == status_id).values(rebuild_mark=mark))


def tombstone_status(session: Session, status_id: int, changed_at: datetime) -> None:
    """The status's snapshot goes; its revision grows past anything indexed."""
    session.execute(
        update(Status)
        .where(Status.id == status_id)
        .values(deleted=True, snapshot={}, revision=Status.revision + 1, changed_at=changed_at)
    )


def tombstone_statuses(session: Session, ids: Sequence[int], changed_at: datetime) -> None:
    """`tombstone_status` for each of a chunk of statuses, their hashtag uses gone too."""
    session.execute(
        update(Status)
        .where(Status.id.in_(ids))
        .values(deleted=True, snapshot={}, revision=Status.revision + 1, changed_at=changed_at)
    )
    session.execute(delete(TagUse).where(TagUse.status_id.in_(ids)))


def live_status_ids_of(session: Session, account_id: int) -> list[int]:
    """The account's statuses that are not tombstones."""
    return list(
        session.scalars(select(Status.id).where(Status.account_id == account_id, Status.deleted.is_(False)))
    )


def live_status_ids(session: Session, ids: Collection[int]) -> list[int]:
    """Which of these statuses exist and are not tombstones."""
    return list(session.scalars(select(Status.id).where(Status.id.in_(ids), Status.deleted.is_(False))))


def bump_status_revisions(session: Session, ids: Collection[int]) -> None:
    """Their documents changed without their snapshots changing (who favourited them)."""
    session.execute(update(Status).where(Status.id.in_(ids)).values(revision=Status.revision + 1))


def delete_tags(session: Session, status_id: int) -> None:
    """The status's hashtag uses."""
    session.execute(delete(TagUse).where(TagUse.status_id == status_id))


def add_tags(session: Session, status_id: int, account_id: int, names: Sequence[str], day: date) -> None:
    session.execute(
        insert(TagUse),
        [{"name": n, "status_id": status_id, "account_id": account_id, "day": day} for n in names],
    )


def unseen_status_ids(session: Session, *, up_to: int, mark: int, changed_before: datetime) -> list[int]:
    """Statuses (not tombstones) up to id `up_to` that the rebuild `mark` didn't see in the export
    and no event changed since it began."""
    return list(session.scalars(select(Status.id).where(_unseen(Status, up_to, mark, changed_before))))


def _unseen(
    model: type[Status] | type[Account], up_to: int, mark: int, changed_before: datetime
) -> ColumnElement[bool]:
    return (
        (model.id <= up_to)
        & or_(model.rebuild_mark.is_(None), model.rebuild_mark != mark)
        & (model.changed_at < changed_before)
        & model.deleted.is_(False)
    )


# -- accounts ---------------------------------------------------------------------------------


def account(session: Session, account_id: int) -> Account | None:
    """As the database has it now (what the session holds is read again)."""
    return session.get(Account, account_id, populate_existing=True)


def counted_statuses(session: Session, account_id: int, visibilities: Collection[str]) -> int:
    """The account's statuses (not tombstones) with these visibilities."""
    found = session.scalar(
        select(func.count()).where(
            Status.account_id == account_id,
            Status.deleted.is_(False),
            Status.visibility.in_(visibilities),
        )
    )
    return int(found or 0)


def add_account(session: Session, row: Account) -> None:
    session.add(row)
    session.flush()


def _follow_count(column: InstrumentedAttribute[int], account_id: int) -> ScalarSelect[int]:
    return (
        select(func.count())
        .select_from(Follow)
        .where(column == account_id, Follow.active.is_(True))
        .scalar_subquery()
    )


def count_follows(session: Session, account_id: int) -> None:
    """The account's followers and following counted from the graph (follows may arrive first)."""
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(
            followers_count=_follow_count(Follow.target_account_id, account_id),
            following_count=_follow_count(Follow.account_id, account_id),
        )
    )


def update_account(
    session: Session,
    account_id: int,
    *,
    username: str,
    snapshot: dict[str, Any],
    changed_at: datetime,
    rebuild_mark: int | None,
) -> None:
    """A new snapshot of an account: its document's revision grows; `rebuild_mark` is kept when
    None."""
    values: dict[str, object] = {
        "username": username,
        "snapshot": snapshot,
        "revision": Account.revision + 1,
        "deleted": False,
        "changed_at": changed_at,
    }
    if rebuild_mark is not None:
        values["rebuild_mark"] = rebuild_mark
    session.execute(update(Account).where(Account.id == account_id).values(**values))


def mark_account(session: Session, account_id: int, mark: int) -> None:
    session.execute(update(Account).where(Account.id == account_id).values(rebuild_mark=mark))


def tombstone_account(session: Session, account_id: int, changed_at: datetime) -> None:
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(deleted=True, revision=Account.revision + 1, changed_at=changed_at)
    )


def change_statuses_count(
    session: Session, account_id: int, delta: int, last_status_at: datetime | None
) -> None:
    """Never below zero; `last_status_at` set when given."""
    counted = Account.statuses_count + delta
    values: dict[str, object] = {"statuses_count": case((counted < 0, 0), else_=counted)}
    if last_status_at is not None:
        values["last_status_at"] = last_status_at
    session.execute(update(Account).where(Account.id == account_id).values(**values))


def change_count(
    session: Session, account_id: int, column: Literal["followers_count", "following_count"], delta: int
) -> None:
    counted: InstrumentedAttribute[int] = getattr(Account, column)
    session.execute(update(Account).where(Account.id == account_id).values({column: counted + delta}))


def unseen_account_ids(session: Session, *, up_to: int, mark: int, changed_before: datetime) -> list[int]:
    """`unseen_status_ids`, for accounts."""
    return list(session.scalars(select(Account.id).where(_unseen(Account, up_to, mark, changed_before))))


# -- follows ----------------------------------------------------------------------------------


def follow(session: Session, follower: int, followee: int) -> Follow | None:
    """As the database has it now."""
    return session.get(Follow, (follower, followee), populate_existing=True)


def upsert_follow(session: Session, follower: int, followee: int, *, active: bool) -> None:
    stmt = dialect_insert(session)(Follow).values(
        account_id=follower, target_account_id=followee, active=active
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "target_account_id"], set_={"active": active}
        )
    )


def followed_by(session: Session, account_id: int) -> list[int]:
    """Whom the account follows."""
    return list(
        session.scalars(
            select(Follow.target_account_id).where(Follow.account_id == account_id, Follow.active)
        )
    )


def followers_of(session: Session, account_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Follow.account_id).where(Follow.target_account_id == account_id, Follow.active)
        )
    )


def delete_follows_of(session: Session, account_id: int) -> None:
    """Its follows either way."""
    session.execute(
        delete(Follow).where((Follow.account_id == account_id) | (Follow.target_account_id == account_id))
    )


# -- favourites -------------------------------------------------------------------------------


def upsert_favourite(
    session: Session, account_id: int, status_id: int, *, active: bool, at: datetime
) -> bool:
    """Favourites are not versioned: the newest `at` seen for the pair wins. Returns whether this
    one changed the row."""
    stmt = dialect_insert(session)(Favourite).values(
        account_id=account_id, status_id=status_id, active=active, at=at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "status_id"],
        set_={"active": active, "at": at},
        where=and_(Favourite.at <= literal(at, Favourite.at.type)),
    )
    return bool(affected_rows(session.execute(stmt)))


def delete_favourites_of(session: Session, account_id: int) -> list[int]:
    """The account's favourites go; returns the statuses they were of."""
    status_ids = list(session.scalars(select(Favourite.status_id).where(Favourite.account_id == account_id)))
    session.execute(delete(Favourite).where(Favourite.account_id == account_id))
    return status_ids
