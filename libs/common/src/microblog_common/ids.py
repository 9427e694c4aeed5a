"""Time-sortable 64-bit ids in Mastodon's scheme: milliseconds since the epoch << 16 | 16 low bits.

The low bits start at a random offset per millisecond and count up, so ids made in one process are
strictly increasing and ids from several processes collide only with negligible probability.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime

_lock = threading.Lock()
_last_ms = 0
_sequence = 0
LOW_BITS = 16
LOW_MASK = (1 << LOW_BITS) - 1


def new_id(at: datetime | None = None) -> int:
    """A new id for now (or for `at`, e.g. a post imported with its original time)."""
    global _last_ms, _sequence
    with _lock:
        ms = int(at.timestamp() * 1000) if at is not None else time.time_ns() // 1_000_000
        if at is None and ms <= _last_ms:
            # Same millisecond (or a clock step back): keep counting so ids stay increasing.
            ms = _last_ms
            _sequence += 1
            if _sequence > LOW_MASK:
                ms += 1
                _sequence = secrets.randbelow(1 << 8)
        else:
            _sequence = secrets.randbelow(1 << 8)
        if at is None:
            _last_ms = ms
        return (ms << LOW_BITS) | _sequence


def id_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp((value >> LOW_BITS) / 1000, tz=UTC)


def lowest_id_at(moment: datetime) -> int:
    """The smallest id that can have been made at `moment`, for turning dates into id cursors."""
    return int(moment.timestamp() * 1000) << LOW_BITS


def parse_id(value: str | int | None) -> int | None:
    """A client-sent id (string in JSON) as an int, or None when absent or not an id."""
    if value is None or value == "":
        return None
    try:
        parsed = int(value)
    except (TypeError, ValueError):
        return None
    return parsed if 0 < parsed < (1 << 63) else None
