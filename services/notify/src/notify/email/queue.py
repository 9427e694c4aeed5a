"""The outgoing email queue (`emails`): what the event handlers record to send (in their own
transaction), and the queries of the sender that claims, records and finishes each attempt.

An activity email (follow, mention, favourite) is a digest: the first notification of its type
opens one (`digest_key` = account and type); the ones after it join it until the sender takes it.
It goes out at once, unless one of its type went to the account within the digest window: then
it waits for the window to pass, collecting what comes in meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from microblog_common.ids import new_id
from microblog_common.sql import dialect_insert
from notify import presence
from notify.email import preferences
from notify.models import Account, Email, Notification, SuppressedAddress

# Notification types that are emailed (the others are in-app only).
ACTIVITY_KINDS = ("follow", "mention", "favourite")
DEFAULT_LOCALE = "en"

PENDING, SENDING, SENT, FAILED, SUPPRESSED, SKIPPED = (
    "pending",
    "sending",
    "sent",
    "failed",
    "suppressed",
    "skipped",
)


def _now() -> datetime:
    return datetime.now(UTC)


def collect(session: Session, notification: Notification) -> None:
    """Puts a new notification into its recipient's open digest of its type, if they get emails
    of that type and have no live stream open (Mastodon's rule: no email to someone watching)."""
    kind = notification.type
    if kind not in ACTIVITY_KINDS:
        return
    account = session.get(Account, notification.account_id)
    if account is None or not account.email:
        return
    if not preferences.wants(session, account.id, kind) or presence.is_watching(session, account.id):
        return
    digest_key = f"{account.id}:{kind}"
    now = _now()
    stmt = dialect_insert(session)(Email).values(
        id=new_id(),
        account_id=account.id,
        kind=kind,
        to_address=account.email,
        locale=account.locale or DEFAULT_LOCALE,
        state=PENDING,
        due_at=now,
        digest_key=digest_key,
        data={},
        attempts=0,
        created_at=now,
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["digest_key"]))
    email_id = session.scalar(select(Email.id).where(Email.digest_key == digest_key))
    session.execute(update(Notification).where(Notification.id == notification.id).values(email_id=email_id))
    session.info["email_queued"] = True


def enqueue(
    session: Session, account_id: int, kind: str, to_address: str, locale: str | None, data: dict[str, Any]
) -> None:
    """A message of its own (welcome, password reset), due now."""
    now = _now()
    session.add(
        Email(
            id=new_id(),
            account_id=account_id,
            kind=kind,
            to_address=to_address,
            locale=locale or DEFAULT_LOCALE,
            state=PENDING,
            due_at=now,
            data=data,
            attempts=0,
            created_at=now,
        )
    )
    session.info["email_queued"] = True


def forget_account(session: Session, account_id: int) -> None:
    """A deleted account gets no more mail."""
    session.execute(
        update(Email)
        .where(Email.account_id == account_id, Email.state == PENDING)
        .values(state=SKIPPED, digest_key=None, last_error="account deleted")
    )


# -- the sender's side --------------------------------------------------------------------------


def claim(session: Session, batch: int, lease_seconds: float, digest_window_seconds: float) -> list[int]:
    """Takes due emails for one attempt each: pending ones whose time has come, and attempts whose
    lease ran out (a sender that crashed mid-send). Recorded before anything is sent: the attempt
    count grows, the digest closes, the lease starts. Safe with several senders (`SKIP LOCKED`).
    An activity digest whose type went to the account within the window waits for it to pass
    (still collecting)."""
    now = _now()
    due = or_(
        (Email.state == PENDING) & (Email.due_at <= now),
        (Email.state == SENDING) & (Email.locked_until < now),
    )
    rows = session.execute(
        select(Email.id, Email.account_id, Email.kind, Email.state)
        .where(due)
        .order_by(Email.due_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    ready: list[int] = []
    window = timedelta(seconds=digest_window_seconds)
    for email_id, account_id, kind, state in rows:
        if state == PENDING and kind in ACTIVITY_KINDS and window:
            last = _last_sent_at(session, account_id, kind)
            if last is not None and last + window > now:
                session.execute(update(Email).where(Email.id == email_id).values(due_at=last + window))
                continue
        ready.append(email_id)
    if ready:
        session.execute(
            update(Email)
            .where(Email.id.in_(ready))
            .values(
                state=SENDING,
                attempts=Email.attempts + 1,
                digest_key=None,
                locked_until=now + timedelta(seconds=lease_seconds),
                last_attempt_at=now,
            )
        )
    return ready


def _last_sent_at(session: Session, account_id: int, kind: str) -> datetime | None:
    """When the previous email of this type went to the account (indexed by account and kind)."""
    return session.scalar(
        select(func.max(Email.sent_at)).where(
            Email.account_id == account_id, Email.kind == kind, Email.state == SENT
        )
    )


def finish(session: Session, email_id: int, state: str, **values: Any) -> None:
    session.execute(
        update(Email).where(Email.id == email_id).values(state=state, locked_until=None, **values)
    )


def retry_later(session: Session, email_id: int, at: datetime, error: str) -> None:
    session.execute(
        update(Email)
        .where(Email.id == email_id)
        .values(state=PENDING, due_at=at, locked_until=None, last_error=error[:2000])
    )


def notifications_of(session: Session, email_id: int, read_up_to: int | None) -> list[Notification]:
    """What a digest still has to say: its notifications that exist and are not read yet."""
    query = select(Notification).where(Notification.email_id == email_id)
    if read_up_to is not None:
        query = query.where(Notification.id > read_up_to)
    return list(session.scalars(query.order_by(Notification.id.desc())))


def is_suppressed(session: Session, address: str) -> bool:
    return session.get(SuppressedAddress, address.lower()) is not None


def suppress(session: Session, address: str, reason: str) -> None:
    stmt = dialect_insert(session)(SuppressedAddress).values(
        address=address.lower(), reason=reason[:2000], created_at=_now()
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["address"]))


def counts_by_state(session: Session) -> dict[str, int]:
    return {
        state: int(n) for state, n in session.execute(select(Email.state, func.count()).group_by(Email.state))
    }
