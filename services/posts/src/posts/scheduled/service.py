"""Scheduled statuses: created by POST /api/v1/statuses with `scheduled_at`, listed, moved and
cancelled here, published by `publisher.py` when due. Mastodon's rules: at least the minimum lead
ahead (5 minutes by default), at most 300 pending per account and 25 for one (UTC) day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from microblog_common.errors import NotFound
from microblog_common.ids import new_id, parse_id
from microblog_common.mastodon.statuses import iso
from microblog_common.pagination import Page
from posts.models import ScheduledStatus
from posts.runtime import Runtime
from posts.scheduled import repository
from posts.statuses.service import Draft, invalid

TOO_SOON = "Scheduled at The scheduled date must be in the future"
TOO_SOON_DESCRIPTION = "the scheduled date must be in the future"


def parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        # Converting to UTC can step past year 1 or 9999 (`9999-12-31T23:59:59-01:00`).
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid("Scheduled at is invalid", "scheduled_at") from None


def _utc_day(at: datetime) -> tuple[datetime, datetime | None]:
    """The UTC day `at` falls on, as [start, end); no end for 9999-12-31 (the next day is not a
    datetime)."""
    start = datetime.combine(at.date(), time(), tzinfo=UTC)
    return start, (start + timedelta(days=1) if at.date() < date.max else None)


def _check(
    session: Session, runtime: Runtime, account_id: int, at: datetime, moving: int | None = None
) -> None:
    settings = runtime.settings
    if at < datetime.now(UTC) + timedelta(seconds=settings.scheduled_min_lead_seconds):
        raise invalid(TOO_SOON, "scheduled_at", description=TOO_SOON_DESCRIPTION)
    # Moving one never makes more pending: only the day it moves to is counted (without it).
    if moving is None and repository.pending_count(session, account_id) >= settings.scheduled_total_limit:
        raise invalid(f"You have exceeded the limit of {settings.scheduled_total_limit} scheduled posts")
    day_start, day_end = _utc_day(at)
    same_day = repository.pending_count(session, account_id, from_=day_start, until=day_end, excluding=moving)
    if same_day >= settings.scheduled_daily_limit:
        raise invalid(
            f"You have exceeded the limit of {settings.scheduled_daily_limit} scheduled posts for today"
        )


def schedule(
    session: Session, runtime: Runtime, account_id: int, draft: Draft, when: str, idempotency: str | None
) -> ScheduledStatus:
    at = parse_time(when)
    _check(session, runtime, account_id, at)
    scheduled = ScheduledStatus(
        id=new_id(),
        account_id=account_id,
        scheduled_at=at,
        params=draft.params(idempotency),
        created_at=datetime.now(UTC),
    )
    repository.add(session, scheduled)
    return scheduled


def as_json(scheduled: ScheduledStatus) -> dict[str, Any]:
    return {
        "id": str(scheduled.id),
        "scheduled_at": iso(scheduled.scheduled_at),
        "params": scheduled.params,
        "media_attachments": [],
    }


def page_of(session: Session, account_id: int, page: Page) -> list[ScheduledStatus]:
    return repository.page_of(session, account_id, page)


def find(session: Session, scheduled_id: int) -> ScheduledStatus | None:
    return repository.by_id(session, scheduled_id)


def own(session: Session, account_id: int, scheduled_id: str, *, for_update: bool = False) -> ScheduledStatus:
    found = repository.own(session, account_id, parse_id(scheduled_id), for_update=for_update)
    if found is None:
        raise NotFound()
    return found


def reschedule(
    session: Session, runtime: Runtime, account_id: int, scheduled_id: str, when: str | None
) -> ScheduledStatus:
    scheduled = own(session, account_id, scheduled_id, for_update=True)
    if when is None:
        return scheduled
    at = parse_time(when)
    _check(session, runtime, account_id, at, moving=scheduled.id)
    scheduled.scheduled_at = at
    session.flush()
    return scheduled


def cancel(session: Session, account_id: int, scheduled_id: str) -> None:
    repository.remove(session, own(session, account_id, scheduled_id).id)
