"""The outgoing email queue (`emails`): what the event handlers record to send (in their own
transaction), and how the sender claims what is due (its statements: `email/repository.py`).

An activity email (follow, mention, favourite) is a digest: the first notification of its type
opens one (`digest_key` = account and type); the ones after it join it until the sender takes it.
It goes out at once, unless one of its type went to the account within the digest window: then
it waits for the window to pass, collecting what comes in meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from microblog_common.ids import new_id
from notify.email import preferences, repository
from notify.email.repository import PENDING
from notify.models import Email, Notification
from notify.notifications import repository as notifications_repository
from notify.replica import repository as replica_repository
from notify.streaming import repository as presence

# Notification types that are emailed (the others are in-app only).
ACTIVITY_KINDS = ("follow", "mention", "favourite")
DEFAULT_LOCALE = "en"


def _now() -> datetime:
    return datetime.now(UTC)


def collect(session: Session, notification: Notification) -> None:
    """Puts a new notification into its recipient's open digest of its type, if they get emails
    of that type and have no live stream open (Mastodon's rule: no email to someone watching)."""
    kind = notification.type
    if kind not in ACTIVITY_KINDS:
        return
    account = replica_repository.account(session, notification.account_id)
    if account is None or not account.email:
        return
    now = _now()
    if not preferences.wants(session, account.id, kind) or presence.is_watching(session, account.id, now):
        return
    email_id = repository.open_digest(
        session,
        Email(
            id=new_id(),
            account_id=account.id,
            kind=kind,
            to_address=account.email,
            locale=account.locale or DEFAULT_LOCALE,
            state=PENDING,
            due_at=now,
            digest_key=f"{account.id}:{kind}",
            data={},
            attempts=0,
            created_at=now,
        ),
    )
    notifications_repository.attach_email(session, notification.id, email_id)
    session.info["email_queued"] = True


def enqueue(
    session: Session, account_id: int, kind: str, to_address: str, locale: str | None, data: dict[str, Any]
) -> None:
    """A message of its own (welcome, password reset), due now."""
    now = _now()
    repository.add(
        session,
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
        ),
    )
    session.info["email_queued"] = True


def forget_account(session: Session, account_id: int) -> None:
    """A deleted account gets no more mail."""
    repository.skip_pending_of(session, account_id, "account deleted")


# -- the sender's side --------------------------------------------------------------------------


def claim(session: Session, batch: int, lease_seconds: float, digest_window_seconds: float) -> list[int]:
    """Takes due emails for one attempt each: pending ones whose time has come, and attempts whose
    lease ran out (a sender that crashed mid-send). Recorded before anything is sent: the attempt
    count grows, the digest closes, the lease starts. Safe with several senders (`SKIP LOCKED`).
    An activity digest whose type went to the account within the window waits for it to pass
    (still collecting)."""
    now = _now()
    ready: list[int] = []
    window = timedelta(seconds=digest_window_seconds)
    for email_id, account_id, kind, state in repository.due_for_update(session, now, batch):
        if state == PENDING and kind in ACTIVITY_KINDS and window:
            last = repository.last_sent_at(session, account_id, kind)
            if last is not None and last + window > now:
                repository.postpone(session, email_id, last + window)
                continue
        ready.append(email_id)
    if ready:
        repository.start_attempts(session, ready, now, now + timedelta(seconds=lease_seconds))
    return ready
