"""Every query on the email tables: the outgoing queue (`emails`), the preferences and unsubscribe
tokens (`email_preferences`) and the addresses never to mail again (`suppressed_addresses`). The
rules are in `queue.py`, `preferences.py` and `sender.py`. Flushes, never commits."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.orm import Session

from microblog_common.sql import dialect_insert
from notify.models import Email, EmailPreferences, SuppressedAddress

# An email's `state` (see `models.Email`).
PENDING, SENDING, SENT, FAILED, SUPPRESSED, SKIPPED = (
    "pending",
    "sending",
    "sent",
    "failed",
    "suppressed",
    "skipped",
)

# -- preferences ------------------------------------------------------------------------------


def preferences(session: Session, account_id: int) -> EmailPreferences | None:
    return session.get(EmailPreferences, account_id)


def ensure_preferences(
    session: Session, account_id: int, defaults: Mapping[str, bool], unsubscribe_token: str, now: datetime
) -> EmailPreferences:
    """The account's row, written with `defaults` and the token unless it is there already."""
    stmt = dialect_insert(session)(EmailPreferences).values(
        account_id=account_id, **defaults, unsubscribe_token=unsubscribe_token, updated_at=now
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["account_id"]))
    row = session.get(EmailPreferences, account_id, populate_existing=True)
    assert row is not None
    return row


def preferences_by_token(session: Session, token: str) -> EmailPreferences | None:
    return session.scalar(select(EmailPreferences).where(EmailPreferences.unsubscribe_token == token))


# -- the queue --------------------------------------------------------------------------------


def email(session: Session, email_id: int) -> Email | None:
    return session.get(Email, email_id)


def add(session: Session, row: Email) -> None:
    session.add(row)


def open_digest(session: Session, row: Email) -> int:
    """The id of the email collecting under `row.digest_key`: `row`, unless one is open already.

    One statement: an insert that did nothing, then a read of the open digest, would race the
    sender, which closes a digest (`digest_key` NULL) when it takes it; the read then found none.
    The no-op update locks the open digest until this transaction ends, so the sender (`SKIP
    LOCKED`) leaves it to collect this notification; a digest closed before is no conflict."""
    values = {c.name: getattr(row, c.key) for c in Email.__table__.columns}
    stmt = dialect_insert(session)(Email).values(values)
    upsert = stmt.on_conflict_do_update(
        index_elements=["digest_key"], set_={"digest_key": stmt.excluded.digest_key}
    ).returning(Email.id)
    return int(session.execute(upsert).scalar_one())


def skip_pending_of(session: Session, account_id: int, reason: str) -> None:
    """The account's emails still waiting become `skipped` (their digests closed)."""
    session.execute(
        update(Email)
        .where(Email.account_id == account_id, Email.state == PENDING)
        .values(state=SKIPPED, digest_key=None, last_error=reason)
    )


def due_for_update(session: Session, now: datetime, batch: int) -> Sequence[Row[int, int, str, str]]:
    """(id, account, kind, state) of the emails due: pending ones whose time has come, and
    attempts whose lease ran out; locked, skipping those another sender holds."""
    due = or_(
        (Email.state == PENDING) & (Email.due_at <= now),
        (Email.state == SENDING) & (Email.locked_until < now),
    )
    return session.execute(
        select(Email.id, Email.account_id, Email.kind, Email.state)
        .where(due)
        .order_by(Email.due_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()


def last_sent_at(session: Session, account_id: int, kind: str) -> datetime | None:
    """When the previous email of this type went to the account (indexed by account and kind)."""
    return session.scalar(
        select(func.max(Email.sent_at)).where(
            Email.account_id == account_id, Email.kind == kind, Email.state == SENT
        )
    )


def postpone(session: Session, email_id: int, due_at: datetime) -> None:
    session.execute(update(Email).where(Email.id == email_id).values(due_at=due_at))


def start_attempts(
    session: Session, email_ids: Collection[int], now: datetime, locked_until: datetime
) -> None:
    """Each email counts an attempt, leaves its digest and is leased to this sender."""
    session.execute(
        update(Email)
        .where(Email.id.in_(email_ids))
        .values(
            state=SENDING,
            attempts=Email.attempts + 1,
            digest_key=None,
            locked_until=locked_until,
            last_attempt_at=now,
        )
    )


def finish(session: Session, email_id: int, state: str, **values: object) -> None:
    """The attempt's outcome: a final state, the lease released."""
    session.execute(
        update(Email).where(Email.id == email_id).values(state=state, locked_until=None, **values)
    )


def retry_later(session: Session, email_id: int, at: datetime, error: str) -> None:
    session.execute(
        update(Email)
        .where(Email.id == email_id)
        .values(state=PENDING, due_at=at, locked_until=None, last_error=error[:2000])
    )


def counts_by_state(session: Session) -> dict[str, int]:
    return {
        state: int(n) for state, n in session.execute(select(Email.state, func.count()).group_by(Email.state))
    }


# -- suppressed addresses ---------------------------------------------------------------------


def is_suppressed(session: Session, address: str) -> bool:
    return session.get(SuppressedAddress, address.lower()) is not None


def suppress(session: Session, address: str, reason: str, now: datetime) -> None:
    stmt = dialect_insert(session)(SuppressedAddress).values(
        address=address.lower(), reason=reason[:2000], created_at=now
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["address"]))
