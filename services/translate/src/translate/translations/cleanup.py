"""The translate service's background work, in its event lane (in the API process or the worker):
expired translations and the rate limit's past windows are deleted every
`TRANSLATION_CLEANUP_INTERVAL_SECONDS` (both by indexed range: `expires_at`, `window_start`).
Lookups skip an expired entry anyway, so the clean-up only bounds the table's size."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from microblog_common.lane import EventLane, periodic
from microblog_common.settings import ServiceSettings
from translate.runtime import Runtime
from translate.settings import Settings
from translate.translations import repository
from translate.translations.service import window_of


def _delete_expired(lane: EventLane, session: Session) -> int:
    runtime: Runtime = lane.runtime
    current_window = window_of(runtime.settings, time.time())
    deleted = repository.delete_expired(session, datetime.now(UTC))
    return deleted + repository.delete_windows_before(session, current_window)


def _interval(settings: ServiceSettings) -> float:
    assert isinstance(settings, Settings)
    return settings.translation_cleanup_interval_seconds


expire_translations = periodic("expire_translations", _interval, _delete_expired)
