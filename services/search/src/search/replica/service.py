"""The replica the search documents are built from, kept from the `post.*` and `user.*` events (and
from the exports, by a rebuild). Every change of a document's source bumps that document's
`revision` and queues it for the indexer (`index_changes`) in the same transaction, so the index
catches up with whatever was committed, however often the events are replayed.

The shared consumer applies each aggregate's events in version order and drops older ones, so
these functions apply what they are given; each snapshot is the whole current state ("upsert").
Flushes, never commits; the statements are in `replica/repository.py`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot
from search.indexing import repository as queue
from search.models import ACCOUNT, STATUS, Account, Status
from search.replica import repository

# Statuses that count towards an account's `statuses_count` and appear in hashtag histories, as
# on Mastodon.
COUNTED_VISIBILITIES = ("public", "unlisted", "private")
TRENDING_VISIBILITIES = ("public", "unlisted")
# Set on a session that queued documents, so the indexer is woken when it commits.
QUEUED = "search_index_changes"
# Statuses tombstoned per statement.
CHUNK = 500


def enqueue(session: Session, kind: str, doc_ids: Iterable[int]) -> None:
    if queue.add_changes(session, kind, doc_ids, datetime.now(UTC)):
        session.info[QUEUED] = True


def _now() -> datetime:
    return datetime.now(UTC)


# -- statuses ---------------------------------------------------------------------------------


def _set_tags(session: Session, snapshot: StatusSnapshot, status_id: int, account_id: int) -> None:
    repository.delete_tags(session, status_id)
    names = sorted({name.lower() for name in snapshot.tags})
    if names and snapshot.visibility in TRENDING_VISIBILITIES:
        repository.add_tags(session, status_id, account_id, names, snapshot.created_at.astimezone(UTC).date())


def upsert_status(session: Session, snapshot: StatusSnapshot, *, mark: int | None = None) -> None:
    status_id, account_id = int(snapshot.id), int(snapshot.account_id)
    data = snapshot.model_dump(mode="json")
    current = repository.status(session, status_id)
    if current is None:
        repository.add_status(
            session,
            Status(
                id=status_id,
                account_id=account_id,
                visibility=snapshot.visibility,
                snapshot=data,
                revision=1,
                deleted=False,
                changed_at=_now(),
                rebuild_mark=mark,
            ),
        )
        counted_before = False
    else:
        counted_before = not current.deleted and current.visibility in COUNTED_VISIBILITIES
        repository.update_status(
            session,
            status_id,
            visibility=snapshot.visibility,
            snapshot=data,
            changed_at=_now(),
            rebuild_mark=mark,
        )
    _set_tags(session, snapshot, status_id, account_id)
    enqueue(session, STATUS, [status_id])
    # Last: the author's row stays locked only until the commit that follows (a burst of one
    # author's statuses queues on it).
    counted = snapshot.visibility in COUNTED_VISIBILITIES
    if counted != counted_before:
        repository.change_statuses_count(
            session, account_id, 1 if counted else -1, snapshot.created_at if counted else None
        )


def mark_status_seen(session: Session, status_id: int, mark: int) -> None:
    """A rebuild found the status in the export at a version already applied."""
    repository.mark_status(session, status_id, mark)


def delete_status(session: Session, status_id: int, account_id: int) -> None:
    """A tombstone with a higher revision than anything indexed, so the deletion wins."""
    current = repository.status(session, status_id)
    if current is None:
        repository.add_status(
            session,
            Status(
                id=status_id,
                account_id=account_id,
                visibility="direct",
                snapshot={},
                revision=1,
                deleted=True,
                changed_at=_now(),
            ),
        )
    else:
        if not current.deleted and current.visibility in COUNTED_VISIBILITIES:
            repository.change_statuses_count(session, current.account_id, -1, None)
        repository.tombstone_status(session, status_id, _now())
    repository.delete_tags(session, status_id)
    enqueue(session, STATUS, [status_id])


def tombstone_statuses(session: Session, ids: list[int]) -> None:
    """Deletes these statuses (an account gone, a rebuild's sweep)."""
    for chunk in (ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)):
        repository.tombstone_statuses(session, chunk, _now())
        enqueue(session, STATUS, chunk)


# -- accounts ---------------------------------------------------------------------------------


def upsert_account(session: Session, snapshot: AccountSnapshot, *, mark: int | None = None) -> None:
    account_id = int(snapshot.id)
    data = snapshot.model_dump(mode="json", include=set(AccountSnapshot.model_fields))
    current = repository.account(session, account_id)
    if current is None:
        # What arrived before the account's first snapshot (follows, statuses) is counted in.
        repository.add_account(
            session,
            Account(
                id=account_id,
                username=snapshot.username,
                snapshot=data,
                revision=1,
                deleted=False,
                followers_count=0,
                following_count=0,
                statuses_count=repository.counted_statuses(session, account_id, COUNTED_VISIBILITIES),
                changed_at=_now(),
                rebuild_mark=mark,
            ),
        )
        repository.count_follows(session, account_id)
    else:
        repository.update_account(
            session,
            account_id,
            username=snapshot.username,
            snapshot=data,
            changed_at=_now(),
            rebuild_mark=mark,
        )
    enqueue(session, ACCOUNT, [account_id])


def mark_account_seen(session: Session, account_id: int, mark: int) -> None:
    repository.mark_account(session, account_id, mark)


def delete_account(session: Session, account_id: int) -> None:
    """The account's document and every status of it go; its follows and favourites too."""
    if repository.account(session, account_id) is not None:
        repository.tombstone_account(session, account_id, _now())
        enqueue(session, ACCOUNT, [account_id])
    tombstone_statuses(session, repository.live_status_ids_of(session, account_id))
    followed = repository.followed_by(session, account_id)
    followers = repository.followers_of(session, account_id)
    for other in followed:
        repository.change_count(session, other, "followers_count", -1)
    for other in followers:
        repository.change_count(session, other, "following_count", -1)
    repository.delete_follows_of(session, account_id)
    _touch_statuses(session, repository.delete_favourites_of(session, account_id))


# -- follows and favourites -------------------------------------------------------------------


def set_follow(session: Session, follower: int, followee: int, *, active: bool) -> None:
    current = repository.follow(session, follower, followee)
    was_active = current is not None and current.active
    repository.upsert_follow(session, follower, followee, active=active)
    if was_active != active:
        delta = 1 if active else -1
        repository.change_count(session, follower, "following_count", delta)
        repository.change_count(session, followee, "followers_count", delta)
        # Followers weigh in the account search's ranking.
        enqueue(session, ACCOUNT, [followee])


def _touch_statuses(session: Session, status_ids: list[int]) -> None:
    """Statuses whose document changed without their snapshot changing (who favourited them)."""
    existing = repository.live_status_ids(session, status_ids)
    if existing:
        repository.bump_status_revisions(session, existing)
        enqueue(session, STATUS, existing)


def set_favourite(session: Session, account_id: int, status_id: int, *, active: bool, at: datetime) -> None:
    """Favourites are not versioned: the newest `at` seen for the pair wins."""
    if repository.upsert_favourite(session, account_id, status_id, active=active, at=at):
        _touch_statuses(session, [status_id])
