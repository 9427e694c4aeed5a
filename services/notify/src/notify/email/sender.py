"""The lane task that sends the queued emails (never a request, never the consumer's transaction).

Each attempt is recorded before it starts (its own committed transaction: `sending`, the attempt
counted, a lease) and its outcome after (`sent` with the provider's id, or back to `pending` with a
back-off, or `failed`/`suppressed`). A crash between the provider accepting a message and the
outcome being recorded leaves it `sending`; when its lease ends it is sent again (at least once,
with the same `Message-ID`). Any number of senders can run (replicas): they claim with SKIP LOCKED."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.orm import Session

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot
from microblog_common.lane import EventLane
from notify.email import preferences, repository
from notify.email import queue as email_queue
from notify.email.backends import InactiveRecipient, OutgoingEmail, PermanentMailError, TransientMailError
from notify.email.messages import Item, item_for
from notify.models import Email
from notify.notifications import repository as notifications
from notify.replica import repository as replica
from notify.runtime import Runtime

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Attempt:
    email_id: int
    message: OutgoingEmail | None  # None: nothing to send (see `skip_reason`)
    skip_reason: str | None = None
    suppressed: bool = False


async def send_emails(lane: EventLane) -> None:
    runtime: Runtime = lane.runtime
    settings = runtime.settings
    wake = runtime.email_wake
    wake.bind(lane)
    while not lane.stopping.is_set():
        sent = 0
        try:
            ids = await lane.run_sync(_claim, lane, settings.email_batch_size)
            for email_id in ids:
                if lane.stopping.is_set():
                    break  # the claimed rest are tried again once their lease ends
                await attempt(lane, runtime, email_id)
                sent += 1
        except Exception as exc:
            log.warning("email_sender_failed", error=str(exc), error_type=type(exc).__name__)
        if sent < settings.email_batch_size:
            await wake.wait(lane, settings.email_poll_interval_seconds)


def _claim(lane: EventLane, batch: int) -> list[int]:
    runtime: Runtime = lane.runtime
    settings = runtime.settings
    with lane.db.unit_of_work() as session:
        return email_queue.claim(
            session, batch, settings.email_lease_seconds, settings.email_digest_window_seconds
        )


async def attempt(lane: EventLane, runtime: Runtime, email_id: int) -> None:
    prepared = await lane.run_sync(_prepare, lane, runtime, email_id)
    if prepared.message is None:
        await lane.run_sync(_record, lane, email_id, _finished(prepared))
        return
    try:
        provider_id = await lane.run_sync(runtime.mail_backend.send, prepared.message)
    except InactiveRecipient as exc:
        await lane.run_sync(_record_suppressed, lane, email_id, prepared.message.to, str(exc))
        log.warning("email_recipient_inactive", email_id=email_id, kind=prepared.message.kind)
        return
    except PermanentMailError as exc:
        await lane.run_sync(_record, lane, email_id, (repository.FAILED, {"last_error": str(exc)[:2000]}))
        log.error("email_refused", email_id=email_id, kind=prepared.message.kind, error=str(exc)[:500])
        return
    except TransientMailError as exc:
        await lane.run_sync(_record_retry, lane, runtime, email_id, str(exc))
        return
    now = datetime.now(UTC)
    await lane.run_sync(
        _record,
        lane,
        email_id,
        (repository.SENT, {"sent_at": now, "provider_message_id": provider_id, "last_error": None}),
    )
    log.info("email_sent", email_id=email_id, kind=prepared.message.kind, backend=runtime.mail_backend.name)


def _finished(prepared: Attempt) -> tuple[str, dict[str, object]]:
    return (repository.SKIPPED, {"last_error": prepared.skip_reason})


def _prepare(lane: EventLane, runtime: Runtime, email_id: int) -> Attempt:
    """What this attempt sends, read now: a digest says only what is still unread and there."""
    with lane.db.unit_of_work() as session:
        email = repository.email(session, email_id)
        if email is None:
            return Attempt(email_id, None, "gone")
        if repository.is_suppressed(session, email.to_address):
            return Attempt(email_id, None, "address suppressed")
        account = replica.account(session, email.account_id)
        username = account.username if account is not None else str(email.data.get("username", ""))
        if email.kind not in email_queue.ACTIVITY_KINDS:
            message = runtime.composer.compose(
                email_id=email.id, kind=email.kind, to=email.to_address, locale=email.locale,
                username=username, data=email.data,
            )  # fmt: skip
            return Attempt(email_id, message)
        if not preferences.wants(session, email.account_id, email.kind):
            return Attempt(email_id, None, "turned off")
        items = _items(session, email)
        if not items:
            return Attempt(email_id, None, "nothing unread left")
        token = preferences.ensure(session, email.account_id).unsubscribe_token
        message = runtime.composer.compose(
            email_id=email.id, kind=email.kind, to=email.to_address, locale=email.locale,
            username=username, items=items, unsubscribe_token=token,
        )  # fmt: skip
        return Attempt(email_id, message)


def _items(session: Session, email: Email) -> list[Item]:
    rows = notifications.in_email(session, email.id, notifications.read_position(session, email.account_id))
    senders = {
        a.id: AccountSnapshot.model_validate(a.snapshot)
        for a in replica.accounts(session, {n.from_account_id for n in rows})
    }
    status_ids = {n.status_id for n in rows if n.status_id is not None}
    statuses = {
        s.id: StatusSnapshot.model_validate(s.snapshot) for s in replica.statuses(session, status_ids)
    }
    items = []
    for n in rows:
        sender = senders.get(n.from_account_id)
        status = statuses.get(n.status_id) if n.status_id is not None else None
        if sender is None or (n.status_id is not None and status is None):
            continue
        items.append(item_for(email.kind, sender, status))
    return items


def _record(lane: EventLane, email_id: int, outcome: tuple[str, dict[str, object]]) -> None:
    state, values = outcome
    with lane.db.unit_of_work() as session:
        repository.finish(session, email_id, state, **values)


def _record_suppressed(lane: EventLane, email_id: int, address: str, reason: str) -> None:
    with lane.db.unit_of_work() as session:
        repository.suppress(session, address, reason, datetime.now(UTC))
        repository.finish(session, email_id, repository.SUPPRESSED, last_error=reason[:2000])


def _record_retry(lane: EventLane, runtime: Runtime, email_id: int, error: str) -> None:
    settings = runtime.settings
    with lane.db.unit_of_work() as session:
        email = repository.email(session, email_id)
        if email is None:
            return
        if email.attempts >= settings.email_max_attempts:
            repository.finish(session, email_id, repository.FAILED, last_error=f"gave up: {error}"[:2000])
            log.error("email_given_up", email_id=email_id, attempts=email.attempts, error=error[:500])
            return
        delay = min(
            settings.email_retry_base_seconds * 2 ** (email.attempts - 1), settings.email_retry_max_seconds
        )
        delay *= random.uniform(0.8, 1.0)  # spread the retries of an outage
        repository.retry_later(session, email_id, datetime.now(UTC) + timedelta(seconds=delay), error)
    log.warning(
        "email_retry_scheduled",
        email_id=email_id,
        attempt=email.attempts,
        delay=round(delay, 1),
        error=error[:300],
    )
