"""Markers: the read position of the home and notifications timelines, which the unread counts
use. As Mastodon: `version` is a lock version growing with every update; two updates of one marker
at the same moment make one of them a conflict (409). Flushes, never commits."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from microblog_common.errors import Conflict
from notify.markers import repository
from notify.models import Marker

TIMELINES = ("home", "notifications")


def markers(session: Session, account_id: int, timelines: Collection[str]) -> dict[str, Marker]:
    """The account's markers of these timelines (the ones it has)."""
    wanted = [t for t in timelines if t in TIMELINES]
    if not wanted:
        return {}
    return {row.timeline: row for row in repository.markers(session, account_id, wanted)}


def save(session: Session, account_id: int, timeline: str, last_read_id: int) -> Marker:
    now = datetime.now(UTC)
    current = repository.marker(session, account_id, timeline)
    if current is None:
        saved = repository.insert_if_absent(session, account_id, timeline, last_read_id, now)
    else:
        saved = repository.update_if_version(
            session, account_id, timeline, current.version, last_read_id, now
        )
    if not saved:
        raise Conflict("Conflict during update, please try again")
    row = repository.reloaded(session, account_id, timeline)
    assert row is not None
    return row
