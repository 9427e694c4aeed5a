"""Which notifications events make, as Mastodon makes them. Runs in the consumer's transaction
(flushes, never commits): each notification, its `notification.created` event (for the live
streams of every replica) and its place in an activity email are written together.

Rules every type follows: never for your own action, never about a status the recipient may not
see, never twice for the same thing (`dedupe_key`, unique per recipient)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from microblog_common.contracts import ContractOutbox
from microblog_common.contracts.notify import CONTRACTS, NOTIFICATION_CREATED, NotificationCreated
from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.events import Outbox
from microblog_common.ids import new_id
from notify.email import queue as email_queue
from notify.models import Notification, Status, messaging
from notify.notifications import repository
from notify.replica import repository as replica_repository
from notify.replica import service as replica

# The types this instance makes (Mastodon has more: reblog, poll, follow_request, admin.*...).
TYPES = ("mention", "status", "favourite", "follow", "update")
# Types whose entity carries `status`.
STATUS_TYPES = ("mention", "status", "favourite", "update")
# Mastodon 4.3 groups these; a group spans at most 12 hours from its first hour.
GROUPABLE_TYPES = ("favourite", "follow")
MAX_GROUP_SPAN_HOURS = 12

publish = ContractOutbox(Outbox(messaging.outbox, producer="notify"), CONTRACTS).publish


def group_key(
    session: Session, recipient: int, type_: str, status_id: int | None, at: datetime, own_id: int
) -> str:
    """Mastodon's `set_group_key!`: the hour bucket of the group's first notification is reused
    while the new one falls within 12 hours of it."""
    if type_ not in GROUPABLE_TYPES:
        return f"ungrouped-{own_id}"
    prefix = f"favourite-{status_id}" if type_ == "favourite" else "follow"
    bucket = int(at.timestamp()) // 3600
    previous = repository.latest_group_key(
        session, recipient, type_, status_id if type_ == "favourite" else None
    )
    if previous is not None:
        previous_bucket = int(previous.rsplit("-", 1)[1])
        if bucket < previous_bucket + MAX_GROUP_SPAN_HOURS:
            bucket = previous_bucket
    return f"{prefix}-{bucket}"


def create(
    session: Session, recipient: int, type_: str, from_account_id: int, status_id: int | None, dedupe_key: str
) -> Notification | None:
    if recipient == from_account_id:
        return None
    now = datetime.now(UTC)
    notification_id = new_id()
    notification = Notification(
        id=notification_id,
        account_id=recipient,
        type=type_,
        from_account_id=from_account_id,
        status_id=status_id,
        group_key=group_key(session, recipient, type_, status_id, now, notification_id),
        dedupe_key=dedupe_key,
        created_at=now,
    )
    if not repository.insert(session, notification):
        return None
    publish(
        session,
        NOTIFICATION_CREATED,
        NotificationCreated(id=str(notification_id), account_id=str(recipient), type=type_),
        subject=notification_id,
    )
    email_queue.collect(session, notification)
    return notification


def _about_status(
    session: Session, recipients: set[int], type_: str, status: Status, dedupe_key: str
) -> None:
    for recipient in sorted(recipients - {status.account_id}):
        if replica.may_see(session, recipient, status):
            create(session, recipient, type_, status.account_id, status.id, dedupe_key)


def status_published(session: Session, status: Status, change: replica.StatusChange) -> None:
    """A status seen for the first time (by its publication, or by its first event after a gap):
    `mention` for whom it mentions or replies to, `status` for followers who asked to be told."""
    mentioned = set(status.mentioned_ids)
    if status.in_reply_to_account_id is not None:
        mentioned.add(status.in_reply_to_account_id)
    _about_status(session, mentioned, "mention", status, f"mention:{status.id}")
    # Mastodon's FeedInsertWorker#notify?: not a reply to someone else, not a direct message.
    is_reply_to_other = status.in_reply_to_account_id not in (None, status.account_id)
    if status.visibility != "direct" and not is_reply_to_other:
        followers = set(replica_repository.followers_to_notify(session, status.account_id))
        _about_status(session, followers, "status", status, f"status:{status.id}")


def status_edited(session: Session, status: Status, change: replica.StatusChange) -> None:
    """Mentions the edit adds are told as mentions; who favourited or replied to it, of the edit."""
    added = set(status.mentioned_ids) - change.previous_mentions
    _about_status(session, added, "mention", status, f"mention:{status.id}")
    interested = set(replica_repository.favourited_by(session, status.id)) | set(
        replica_repository.repliers(session, status.id)
    )
    _about_status(session, interested, "update", status, f"update:{status.id}:{status.version}")


def status_deleted(session: Session, snapshot: StatusSnapshot) -> None:
    """A deleted status takes its notifications with it."""
    repository.remove_for_status(session, int(snapshot.id))


def followed(session: Session, follower: int, followee: int, version: int) -> None:
    create(session, followee, "follow", follower, None, f"follow:{follower}:{version}")


def unfollowed(session: Session, follower: int, followee: int) -> None:
    repository.remove_unseen_follow(session, follower, followee)


def favourited(session: Session, status: Status, by: int, favourite_id: str) -> None:
    if replica.may_see(session, status.account_id, status):
        create(session, status.account_id, "favourite", by, status.id, f"favourite:{status.id}:{by}")
