"""The replica the search documents are built from, kept from the `post.*` and `user.*` events (and
from the exports, by a rebuild). Every change of a document's source bumps that document's
`revision` and queues it for the indexer (`index_changes`) in the same transaction, so the index
catches up with whatever was committed, however often the events are replayed.

The shared consumer applies each aggregate's events in version order and drops older ones, so
these functions apply what they are given; each snapshot is the whole current state ("upsert").
Flushes, never commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import and_, case, delete, func, insert, literal, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.selectable import ScalarSelect

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot
from microblog_common.sql import affected_rows, dialect_insert
from search.models import ACCOUNT, STATUS, Account, Favourite, Follow, IndexChange, Status, TagUse

# Statuses that count towards an account's `statuses_count` and appear in hashtag histories, as
# on Mastodon.
COUNTED_VISIBILITIES = ("public", "unlisted", "private")
TRENDING_VISIBILITIES = ("public", "unlisted")
# Set on a session that queued documents, so the indexer is woken when it commits.
QUEUED = "search_index_changes"


def enqueue(session: Session, kind: str, doc_ids: Iterable[int]) -> None:
    rows = [{"kind": kind, "doc_id": doc_id, "created_at": datetime.now(UTC)} for doc_id in doc_ids]
    if rows:
        session.execute(insert(IndexChange), rows)
        session.info[QUEUED] = True


def _now() -> datetime:
    return datetime.now(UTC)


# -- statuses ---------------------------------------------------------------------------------


def _set_tags(session: Session, snapshot: StatusSnapshot, status_id: int, account_id: int) -> None:
    session.execute(delete(TagUse).where(TagUse.status_id == status_id))
    names = sorted({name.lower() for name in snapshot.tags})
    if names and snapshot.visibility in TRENDING_VISIBILITIES:
        day = snapshot.created_at.astimezone(UTC).date()
        session.execute(
            insert(TagUse),
            [{"name": n, "status_id": status_id, "account_id": account_id, "day": day} for n in names],
        )


def _count_status(session: Session, account_id: int, delta: int, at: datetime | None) -> None:
    counted = Account.statuses_count + delta
    values: dict[str, object] = {"statuses_count": case((counted < 0, 0), else_=counted)}
    if at is not None:
        values["last_status_at"] = at
    session.execute(update(Account).where(Account.id == account_id).values(**values))


def upsert_status(session: Session, snapshot: StatusSnapshot, *, mark: int | None = None) -> None:
    status_id, account_id = int(snapshot.id), int(snapshot.account_id)
    data = snapshot.model_dump(mode="json")
    current = session.get(Status, status_id, populate_existing=True)
    if current is None:
        session.add(
            Status(
                id=status_id,
                account_id=account_id,
                visibility=snapshot.visibility,
                snapshot=data,
                revision=1,
                deleted=False,
                changed_at=_now(),
                rebuild_mark=mark,
            )
        )
        session.flush()
        counted_before = False
    else:
        counted_before = not current.deleted and current.visibility in COUNTED_VISIBILITIES
        values: dict[str, object] = {
            "visibility": snapshot.visibility,
            "snapshot": data,
            "revision": Status.revision + 1,
            "deleted": False,
            "changed_at": _now(),
        }
        if mark is not None:
            values["rebuild_mark"] = mark
        session.execute(update(Status).where(Status.id == status_id).values(**values))
    _set_tags(session, snapshot, status_id, account_id)
    enqueue(session, STATUS, [status_id])
    # Last: the author's row stays locked only until the commit that follows (a burst of one
    # author's statuses queues on it).
    counted = snapshot.visibility in COUNTED_VISIBILITIES
    if counted != counted_before:
        _count_status(session, account_id, 1 if counted else -1, snapshot.created_at if counted else None)


def mark_status_seen(session: Session, status_id: int, mark: int) -> None:
    """A rebuild found the status in the export at a version already applied."""
    session.execute(update(Status).where(Status.id == status_id).values(rebuild_mark=mark))


def delete_status(session: Session, status_id: int, account_id: int) -> None:
    """A tombstone with a higher revision than anything indexed, so the deletion wins."""
    current = session.get(Status, status_id, populate_existing=True)
    if current is None:
        session.add(
            Status(
                id=status_id,
                account_id=account_id,
                visibility="direct",
                snapshot={},
                revision=1,
                deleted=True,
                changed_at=_now(),
            )
        )
        session.flush()
    else:
        if not current.deleted and current.visibility in COUNTED_VISIBILITIES:
            _count_status(session, current.account_id, -1, None)
        session.execute(
            update(Status)
            .where(Status.id == status_id)
            .values(deleted=True, snapshot={}, revision=Status.revision + 1, changed_at=_now())
        )
    session.execute(delete(TagUse).where(TagUse.status_id == status_id))
    enqueue(session, STATUS, [status_id])


def tombstone_statuses(session: Session, condition: object) -> None:
    """Deletes every status matching `condition` (an account gone, a rebuild's sweep)."""
    ids = list(session.scalars(select(Status.id).where(condition, Status.deleted.is_(False))))  # type: ignore[arg-type]
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        session.execute(
            update(Status)
            .where(Status.id.in_(chunk))
            .values(deleted=True, snapshot={}, revision=Status.revision + 1, changed_at=_now())
        )
        session.execute(delete(TagUse).where(TagUse.status_id.in_(chunk)))
        enqueue(session, STATUS, chunk)


# -- accounts ---------------------------------------------------------------------------------


def _follow_count(column: InstrumentedAttribute[int], account_id: int) -> ScalarSelect[int]:
    return (
        select(func.count())
        .select_from(Follow)
        .where(column == account_id, Follow.active.is_(True))
        .scalar_subquery()
    )


def upsert_account(session: Session, snapshot: AccountSnapshot, *, mark: int | None = None) -> None:
    account_id = int(snapshot.id)
    data = snapshot.model_dump(mode="json", include=set(AccountSnapshot.model_fields))
    current = session.get(Account, account_id, populate_existing=True)
    if current is None:
        # What arrived before the account's first snapshot (follows, statuses) is counted in.
        statuses = session.scalar(
            select(func.count()).where(
                Status.account_id == account_id,
                Status.deleted.is_(False),
                Status.visibility.in_(COUNTED_VISIBILITIES),
            )
        )
        session.add(
            Account(
                id=account_id,
                username=snapshot.username,
                snapshot=data,
                revision=1,
                deleted=False,
                followers_count=0,
                following_count=0,
                statuses_count=int(statuses or 0),
                changed_at=_now(),
                rebuild_mark=mark,
            )
        )
        session.flush()
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(
                followers_count=_follow_count(Follow.target_account_id, account_id),
                following_count=_follow_count(Follow.account_id, account_id),
            )
        )
    else:
        values: dict[str, object] = {
            "username": snapshot.username,
            "snapshot": data,
            "revision": Account.revision + 1,
            "deleted": False,
            "changed_at": _now(),
        }
        if mark is not None:
            values["rebuild_mark"] = mark
        session.execute(update(Account).where(Account.id == account_id).values(**values))
    enqueue(session, ACCOUNT, [account_id])


def mark_account_seen(session: Session, account_id: int, mark: int) -> None:
    session.execute(update(Account).where(Account.id == account_id).values(rebuild_mark=mark))


def delete_account(session: Session, account_id: int) -> None:
    """The account's document and every status of it go; its follows and favourites too."""
    current = session.get(Account, account_id, populate_existing=True)
    if current is not None:
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(deleted=True, revision=Account.revision + 1, changed_at=_now())
        )
        enqueue(session, ACCOUNT, [account_id])
    tombstone_statuses(session, Status.account_id == account_id)
    followed = list(
        session.scalars(
            select(Follow.target_account_id).where(Follow.account_id == account_id, Follow.active)
        )
    )
    followers = list(
        session.scalars(
            select(Follow.account_id).where(Follow.target_account_id == account_id, Follow.active)
        )
    )
    for other in followed:
        _change_count(session, other, "followers_count", -1)
    for other in followers:
        _change_count(session, other, "following_count", -1)
    session.execute(
        delete(Follow).where((Follow.account_id == account_id) | (Follow.target_account_id == account_id))
    )
    favourited = list(session.scalars(select(Favourite.status_id).where(Favourite.account_id == account_id)))
    session.execute(delete(Favourite).where(Favourite.account_id == account_id))
    _touch_statuses(session, favourited)


def _change_count(session: Session, account_id: int, column: str, delta: int) -> None:
    col = getattr(Account, column)
    session.execute(update(Account).where(Account.id == account_id).values({column: col + delta}))


# -- follows and favourites -------------------------------------------------------------------


def set_follow(session: Session, follower: int, followee: int, *, active: bool) -> None:
    current = session.get(Follow, (follower, followee), populate_existing=True)
    was_active = current is not None and current.active
    stmt = dialect_insert(session)(Follow).values(
        account_id=follower, target_account_id=followee, active=active
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "target_account_id"], set_={"active": active}
        )
    )
    if was_active != active:
        delta = 1 if active else -1
        _change_count(session, follower, "following_count", delta)
        _change_count(session, followee, "followers_count", delta)
        # Followers weigh in the account search's ranking.
        enqueue(session, ACCOUNT, [followee])


def _touch_statuses(session: Session, status_ids: list[int]) -> None:
    """Statuses whose document changed without their snapshot changing (who favourited them)."""
    existing = list(
        session.scalars(select(Status.id).where(Status.id.in_(status_ids), Status.deleted.is_(False)))
    )
    if existing:
        session.execute(update(Status).where(Status.id.in_(existing)).values(revision=Status.revision + 1))
        enqueue(session, STATUS, existing)


def set_favourite(session: Session, account_id: int, status_id: int, *, active: bool, at: datetime) -> None:
    """Favourites are not versioned: the newest `at` seen for the pair wins."""
    stmt = dialect_insert(session)(Favourite).values(
        account_id=account_id, status_id=status_id, active=active, at=at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "status_id"],
        set_={"active": active, "at": at},
        where=and_(Favourite.at <= literal(at, Favourite.at.type)),
    )
    if affected_rows(session.execute(stmt)):
        _touch_statuses(session, [status_id])
