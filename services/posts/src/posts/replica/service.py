"""The replica of what the users service owns, kept from its events: account snapshots and the
follow graph. The shared consumer applies each account's and each follow pair's events in version
order and drops older ones (`microblog_common.events.versions`), so these functions just apply what
they are given. With the replica a Status is rendered, and a home feed filled, without ever calling
the users service.

Each function runs inside the inbox consumer's transaction: flushes, never commits."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from microblog_common.contracts.users import AccountSnapshot
from microblog_common.events.versions import applied_version, claim_version
from posts.models import messaging
from posts.replica import repository

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
    # Every field the snapshot carries replaces the held one (its version was claimed by the
    # consumer, or by `apply_fetched_snapshot`); the counts are this service's own.
    repository.upsert_account(session, int(snapshot.id), values)


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


def set_follow(
    session: Session, follower: int, followee: int, *, active: bool, at: datetime, backfill: int
) -> None:
    """Applies a follow or unfollow that happened at `at`. A new follow merges the followee's
    latest `backfill` posts into the follower's home feed; an unfollow takes them out."""
    current = repository.follow_for_update(session, follower, followee)
    was_active = current is not None and current.active
    if current is None:
        repository.add_follow(session, follower, followee, active=active, at=at)
    else:
        current.active, current.changed_at = active, at
        session.flush()
    if active and not was_active:
        repository.change_follow_counts(session, follower, followee, +1)
        if backfill > 0:
            repository.merge_into_home(session, follower, followee, backfill)
    elif was_active and not active:
        repository.change_follow_counts(session, follower, followee, -1)
        repository.remove_from_home(session, follower, followee)


def delete_account(session: Session, account_id: int) -> None:
    """Everything of a deleted account (see `repository.delete_account`)."""
    repository.delete_account(session, account_id)
    log.info("account_deleted", account_id=account_id)
