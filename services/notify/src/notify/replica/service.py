"""The replica of what the users and posts services own, kept from their events: account snapshots
(with the email address and locale emails need), the follow graph, status snapshots and who
favourited them. With it a Notification renders, and its rules decide, without calling another
service. Every function runs in the consumer's transaction: flushes, never commits; the statements
are in `replica/repository.py`.

The shared consumer applies each aggregate's events in version order and drops older ones
(`microblog_common.events.versions`), possibly with gaps, so each snapshot is applied as the whole
current state (an upsert), and the caller learns whether it was the first sight of the aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot
from notify.models import Account, Follow, Status
from notify.replica import repository

# Visible to anyone; the others need a relation to the author.
OPEN_VISIBILITIES = ("public", "unlisted")


# -- accounts ---------------------------------------------------------------------------------


def upsert_account(
    session: Session, snapshot: AccountSnapshot, *, email: str | None = None, locale: str | None = None
) -> bool:
    """Stores the snapshot (email and locale only when given); returns whether the account is new."""
    account_id = int(snapshot.id)
    data = snapshot.model_dump(mode="json", exclude={"email", "locale"})
    existing = repository.account_for_update(session, account_id)
    if existing is None:
        followers, following = repository.follow_counts(session, account_id)
        repository.add_account(
            session,
            Account(
                id=account_id,
                username=snapshot.username,
                snapshot=data,
                email=email,
                locale=locale,
                followers_count=followers,
                following_count=following,
            ),
        )
        return True
    existing.username, existing.snapshot = snapshot.username, data
    if email is not None:
        existing.email = email
    if locale is not None:
        existing.locale = locale
    return False


# -- follows ----------------------------------------------------------------------------------


def set_follow(
    session: Session, follower: int, followee: int, *, active: bool, notify: bool, version: int
) -> bool:
    """Applies a follow or an unfollow; returns whether the pair's `active` state changed."""
    current = repository.follow_for_update(session, follower, followee)
    was_active = current is not None and current.active
    if current is None:
        repository.add_follow(
            session,
            Follow(
                account_id=follower, target_account_id=followee, active=active, notify=notify, version=version
            ),
        )
    else:
        current.active, current.notify, current.version = active, notify if active else False, version
    session.flush()
    if active == was_active:
        return False
    repository.change_follow_counts(session, follower, followee, 1 if active else -1)
    return True


# -- statuses ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    status: Status  # the replica's row, as the snapshot left it
    first_sight: bool  # its publication had not been applied here yet
    previous_mentions: frozenset[int]


def mentioned_ids(snapshot: StatusSnapshot) -> list[int]:
    return [int(m.id) for m in snapshot.mentions]


def counts_toward_profile(visibility: str) -> bool:
    return visibility != "direct"


def _fields(snapshot: StatusSnapshot, version: int) -> dict[str, Any]:
    """A status row's columns from its snapshot (the counts aside)."""
    return {
        "account_id": int(snapshot.account_id),
        "visibility": snapshot.visibility,
        "in_reply_to_id": int(snapshot.in_reply_to_id) if snapshot.in_reply_to_id else None,
        "in_reply_to_account_id": int(snapshot.in_reply_to_account_id)
        if snapshot.in_reply_to_account_id
        else None,
        "mentioned_ids": mentioned_ids(snapshot),
        "snapshot": snapshot.model_dump(mode="json"),
        "version": version,
        "created_at": snapshot.created_at,
    }


def upsert_status(session: Session, snapshot: StatusSnapshot, version: int) -> StatusChange:
    """Stores the status as the snapshot says; the first sight also counts it (the author's
    statuses, its parent's replies)."""
    status_id = int(snapshot.id)
    current = repository.status_for_update(session, status_id)
    fields = _fields(snapshot, version)
    if current is not None and current.version > 0:
        previous = frozenset(current.mentioned_ids)
        for name, value in fields.items():
            setattr(current, name, value)
        return StatusChange(current, first_sight=False, previous_mentions=previous)
    if current is None:
        current = Status(id=status_id, **fields)
        repository.add_status(session, current)
    else:  # known from a favourite's copy only
        for name, value in fields.items():
            setattr(current, name, value)
    session.flush()
    _count_status(session, snapshot, +1)
    return StatusChange(current, first_sight=True, previous_mentions=frozenset())


def _count_status(session: Session, snapshot: StatusSnapshot, delta: int) -> None:
    if counts_toward_profile(snapshot.visibility):
        repository.change_statuses_count(
            session,
            int(snapshot.account_id),
            delta,
            last_status_at=snapshot.created_at if delta > 0 else None,
        )
    if snapshot.in_reply_to_id and snapshot.visibility in OPEN_VISIBILITIES:
        repository.change_replies_count(session, int(snapshot.in_reply_to_id), delta)


def remember_from_favourite(session: Session, snapshot: StatusSnapshot) -> None:
    """A favourite carries the status's snapshot: kept (as version 0) when the status is not
    known yet, so the notification renders; its publication still does what it must when it comes."""
    status_id = int(snapshot.id)
    if repository.status(session, status_id) is not None:
        return
    copy = Status(id=status_id, **_fields(snapshot, 0), replies_count=0, favourites_count=0)
    repository.insert_status_if_absent(session, copy)


def status_was_deleted(session: Session, status_id: int) -> bool:
    """Versions of the status were applied here but it is gone: it was deleted."""
    applied = repository.status_version_applied(session, status_id)
    return applied is not None and repository.status(session, status_id) is None


def delete_status(session: Session, snapshot: StatusSnapshot) -> None:
    status_id = int(snapshot.id)
    current = repository.status(session, status_id)
    if current is not None and current.version > 0:
        _count_status(session, snapshot, -1)
    repository.delete_status(session, status_id)


def add_favourite(session: Session, status_id: int, account_id: int, at: datetime) -> bool:
    """Returns whether the favourite is new here."""
    added = repository.insert_favourite(session, status_id, account_id, at)
    if added:
        repository.change_favourites_count(session, status_id, +1)
    return added


# -- who may see a status ---------------------------------------------------------------------


def may_see(session: Session, viewer_id: int, status: Status) -> bool:
    """Mastodon's visibility: public and unlisted to anyone, private to the author, followers and
    mentioned accounts, direct to the author and mentioned accounts."""
    if status.visibility in OPEN_VISIBILITIES or viewer_id == status.account_id:
        return True
    if viewer_id in status.mentioned_ids:
        return True
    return status.visibility == "private" and repository.follows(session, viewer_id, status.account_id)
