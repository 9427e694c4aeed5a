"""Every query on the translation cache and on the rate limit's counters. Flushes, never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Delete, Select, and_, bindparam, delete, literal_column, select, update
from sqlalchemy.orm import Session

from microblog_common.sql import affected_rows, dialect_insert
from translate.models import CachedTranslation, RateWindow, Status

# Core tables for the queries every translation runs (no ORM entity loading on the hot path).
_TRANSLATIONS = CachedTranslation.__table__
_WINDOWS = RateWindow.__table__


class CacheKey(NamedTuple):
    provider: str
    source_language: str  # "" when the provider detects it
    target_language: str
    text_hash: str


@dataclass(frozen=True)
class CacheEntry:
    translated: str
    detected_language: str | None


def _lookup_statement(count: int) -> Select[tuple[int | None, str | None, str | None, str | None]]:
    """The viewer's count in the window and the unexpired cache entries of `count` texts, in one
    round trip: a row of the count joined to the entries (one row, with no entry, when none is
    cached). Fixed placeholders rather than an expanding IN: an expanding parameter is rendered
    again on every execution, and a status has at most two texts."""
    taken = (
        select(_WINDOWS.c.count)
        .where(
            _WINDOWS.c.subject == bindparam("subject"),
            _WINDOWS.c.window_start == bindparam("window_start"),
        )
        .scalar_subquery()
    )
    one_row = select(literal_column("1").label("one")).subquery("one_row")
    entries = one_row.outerjoin(
        _TRANSLATIONS,
        and_(
            _TRANSLATIONS.c.provider == bindparam("provider"),
            _TRANSLATIONS.c.source_language == bindparam("source_language"),
            _TRANSLATIONS.c.target_language == bindparam("target_language"),
            _TRANSLATIONS.c.text_hash.in_([bindparam(f"hash_{i}") for i in range(count)]),
            _TRANSLATIONS.c.expires_at > bindparam("now"),
        ),
    )
    return select(
        taken.label("taken"),
        _TRANSLATIONS.c.text_hash,
        _TRANSLATIONS.c.translated,
        _TRANSLATIONS.c.detected_language,
    ).select_from(entries)


# One status's texts (content, content warning): one statement per count, built once.
_LOOKUPS = {count: _lookup_statement(count) for count in (1, 2)}


@dataclass(frozen=True)
class Lookup:
    found: dict[CacheKey, CacheEntry]
    taken: int  # translations counted in the rate limit's window (0: none yet)


def lookup(
    session: Session, keys: Sequence[CacheKey], now: datetime, subject: str, window_start: int
) -> Lookup:
    """What a translation reads: the unexpired entries of `keys` (one provider, source and target:
    one status's texts) along the cache's primary key, and `subject`'s count in the window along
    the rate limit's, in one query."""
    if not keys:
        return Lookup({}, taken(session, subject, window_start))
    first = keys[0]
    assert all(k[:3] == first[:3] for k in keys), "one status's texts share provider, source and target"
    params: dict[str, object] = {
        "subject": subject,
        "window_start": window_start,
        "provider": first.provider,
        "source_language": first.source_language,
        "target_language": first.target_language,
        "now": now,
    }
    params.update((f"hash_{i}", key.text_hash) for i, key in enumerate(keys))
    statement = _LOOKUPS.get(len(keys))
    if statement is None:  # not one status's texts; still answered right
        statement = _lookup_statement(len(keys))
    # Core, on the session's connection: the ORM's execution layer has nothing to add to a read
    # of plain columns, and this runs on every translation.
    rows = session.connection().execute(statement, params).all()
    by_hash = {k.text_hash: k for k in keys}
    found = {
        by_hash[r.text_hash]: CacheEntry(r.translated, r.detected_language)
        for r in rows
        if r.text_hash is not None and r.translated is not None
    }
    return Lookup(found, int(rows[0].taken or 0) if rows else 0)


@cache
def _store_statement(insert: Any) -> Any:
    """The cache's upsert for a dialect, built once (run with each request's rows)."""
    stmt = insert(_TRANSLATIONS)
    changed = ("translated", "detected_language", "status_id", "created_at", "expires_at")
    return stmt.on_conflict_do_update(
        index_elements=["provider", "source_language", "target_language", "text_hash"],
        set_={name: stmt.excluded[name] for name in changed},
    )


def store(
    session: Session,
    entries: dict[CacheKey, CacheEntry],
    *,
    status_id: int,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Writes the entries (a key already there, or expired, takes the new translation)."""
    if not entries:
        return
    rows = [
        {
            "provider": key.provider,
            "source_language": key.source_language,
            "target_language": key.target_language,
            "text_hash": key.text_hash,
            "translated": entry.translated,
            "detected_language": entry.detected_language,
            "status_id": status_id,
            "created_at": now,
            "expires_at": expires_at,
        }
        for key, entry in entries.items()
    ]
    session.execute(_store_statement(dialect_insert(session)), rows)


def _deleted(session: Session, statement: Delete) -> int:
    """How many rows `statement` deleted."""
    return affected_rows(session.execute(statement))


def forget_status(session: Session, status_id: int) -> int:
    """The entries a status's translation wrote (it was edited or deleted)."""
    return _deleted(session, delete(CachedTranslation).where(CachedTranslation.status_id == status_id))


def forget_account(session: Session, account_id: int) -> int:
    """The entries the statuses of a deleted account wrote."""
    own = select(Status.id).where(Status.account_id == account_id)
    return _deleted(session, delete(CachedTranslation).where(CachedTranslation.status_id.in_(own)))


def delete_expired(session: Session, now: datetime) -> int:
    return _deleted(session, delete(CachedTranslation).where(CachedTranslation.expires_at <= now))


# -- the rate limit: one row per subject and fixed window -------------------------------------


@cache
def _take_statement(insert: Any) -> Any:
    stmt = insert(_WINDOWS).values(
        subject=bindparam("subject"), window_start=bindparam("window_start"), count=1
    )
    return stmt.on_conflict_do_update(
        index_elements=[_WINDOWS.c.subject, _WINDOWS.c.window_start],
        set_={"count": _WINDOWS.c.count + 1},
        where=_WINDOWS.c.count < bindparam("limit"),
    ).returning(_WINDOWS.c.count)


def take(session: Session, subject: str, window_start: int, limit: int) -> int | None:
    """Counts one translation in the window unless `limit` are counted already. The new count,
    or None (over the limit). One statement, so concurrent requests can't both take the last."""
    params = {"subject": subject, "window_start": window_start, "limit": limit}
    return session.execute(_take_statement(dialect_insert(session)), params).scalar_one_or_none()


def give_back(session: Session, subject: str, window_start: int) -> None:
    """Uncounts a translation the provider failed to make."""
    session.execute(
        update(RateWindow)
        .where(RateWindow.subject == subject, RateWindow.window_start == window_start, RateWindow.count > 0)
        .values(count=RateWindow.count - 1)
    )


_TAKEN = select(_WINDOWS.c.count).where(
    _WINDOWS.c.subject == bindparam("subject"), _WINDOWS.c.window_start == bindparam("window_start")
)


def taken(session: Session, subject: str, window_start: int) -> int:
    """How many translations the window holds (0: none yet)."""
    params = {"subject": subject, "window_start": window_start}
    count = session.connection().execute(_TAKEN, params).scalar_one_or_none()
    return int(count or 0)


def delete_windows_before(session: Session, window_start: int) -> int:
    return _deleted(session, delete(RateWindow).where(RateWindow.window_start < window_start))
