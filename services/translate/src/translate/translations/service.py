"""Translating a status, as Mastodon's TranslateStatusService does, from this service's own replica
of the status (never a call to the posts service) and through its own cache.

A request goes in three steps so that no database connection is held while the provider works:
1. `plan` (reads, no transaction: a cache hit writes nothing): the status, whether the viewer may
   see it (404) and whether it may be translated at all (403: only public and unlisted statuses),
   the target language (422), the texts (content as HTML, content warning), which of them the
   cache holds and, when it holds them all, the viewer's count in the rate limit's window; when
   some must go to the provider, `count_against_limit` (one short transaction) takes one from
   the viewer's rate limit (429): only translations the provider makes count;
2. the provider translates what the cache lacked (each text split to fit the provider's limit and
   joined again); on failure the count is given back and the client gets the provider's 503;
3. `remember` (one short transaction): the new translations go into the cache, unless the status
   changed meanwhile (its edit already cleared what it had)."""

from __future__ import annotations

import asyncio
import hashlib
import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, TypeVar

import anyio
import nh3
import structlog
from anyio import CapacityLimiter
from prometheus_client import Counter
from sqlalchemy.orm import Session

from microblog_common.db import Database
from microblog_common.errors import (
    ApiError,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unprocessable,
)
from microblog_common.internal_auth import Identity
from microblog_common.mastodon.text import sanitise
from translate.providers import Provider, Translated
from translate.providers.errors import ProviderError
from translate.replica import repository as replica
from translate.replica.repository import StatusRow
from translate.settings import Settings
from translate.translations import repository, segments
from translate.translations.languages import (
    DETECTED,
    LanguageCache,
    LanguageMatrix,
    accept_languages,
    is_language_tag,
    public_code,
)
from translate.translations.repository import CacheEntry, CacheKey

log = structlog.get_logger(__name__)

TRANSLATIONS = Counter(
    "microblog_translations",
    "Translation requests answered, by where the translation came from (cache, provider) or why not.",
    ["provider", "outcome"],
)
# The language a translation goes to when nothing else names one.
FALLBACK_LANGUAGE = "en"
TextKind = Literal["content", "spoiler_text"]
T = TypeVar("T")


# -- who asks, and their rate limit ------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    account_id: int | None  # None for an app-only token
    # Whom the rate limit counts: the account, or the token of an app-only client.
    subject: str

    @classmethod
    def of(cls, identity: Identity) -> Viewer:
        if identity.user_id is not None:
            return cls(identity.user_id, f"user:{identity.user_id}")
        token = hashlib.sha256((identity.token_id or "").encode()).hexdigest()[:32]
        return cls(None, f"token:{token}")


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset_at: int  # epoch seconds

    @classmethod
    def after(cls, settings: Settings, window_start: int, count: int) -> RateLimit:
        limit = settings.translation_rate_limit
        return cls(
            limit, max(limit - count, 0), window_start + settings.translation_rate_limit_window_seconds
        )

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": _reset_stamp(self.reset_at),
        }


@lru_cache(maxsize=64)
def _reset_stamp(reset_at: int) -> str:
    """ISO 8601 in UTC; the same for every request of a window, so formatted once."""
    reset = datetime.fromtimestamp(reset_at, tz=UTC).isoformat(timespec="microseconds")
    return reset.replace("+00:00", "Z")


def window_of(settings: Settings, now: float) -> int:
    window = settings.translation_rate_limit_window_seconds
    return int(now // window * window)


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceText:
    kind: TextKind
    html: str
    key: CacheKey


@dataclass
class Plan:
    status: StatusRow
    source: str | None  # public code; None: the provider detects it
    target: str
    # The same two in the provider's own codes.
    provider_source: str | None
    provider_target: str
    texts: list[SourceText]
    found: dict[CacheKey, CacheEntry]
    rate: RateLimit
    window_start: int
    # Whether this request was counted against the rate limit (it needs the provider).
    counted: bool = False
    missing: list[SourceText] = field(default_factory=list)


def _text_hash(kind: TextKind, text: str) -> str:
    return hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest()


def _source_texts(status: StatusRow, provider: Provider, source: str | None, target: str) -> list[SourceText]:
    texts: list[tuple[TextKind, str]] = []
    if status.content.strip():
        texts.append(("content", status.content))
    if status.spoiler_text.strip():
        # Sent as HTML too, so one request carries both and the provider treats them alike.
        texts.append(("spoiler_text", html.escape(status.spoiler_text, quote=False)))
    return [
        SourceText(kind, text, CacheKey(provider.key, source or "", target, _text_hash(kind, text)))
        for kind, text in texts
    ]


def _invalid_lang(description: str) -> Unprocessable:
    return Unprocessable(
        f"Validation failed: Lang {description}",
        details={"lang": [{"error": "ERR_INCLUSION", "description": description}]},
    )


def _target(
    matrix: LanguageMatrix,
    provider: Provider,
    source: str | None,
    status_language: str | None,
    lang: str | None,
    defaults: Sequence[str],
) -> str:
    """The `lang` asked for, else the first of the viewer's languages the provider translates
    into. Asking for the status's own language is a 422, as is a language the provider lacks."""
    if lang is not None:
        if not is_language_tag(lang):
            raise _invalid_lang(f"{lang!r} is not a language code")
        candidates = [lang]
    else:
        candidates = [c for c in defaults if is_language_tag(c)]
    for candidate in candidates:
        target = matrix.resolve_target(candidate, source)
        if target is None:
            continue
        if source is not None and target == source:
            raise Unprocessable(
                f"This post is already in the language asked for ({status_language or source})",
                details={"lang": [{"error": "ERR_INVALID", "description": "is the post's own language"}]},
            )
        if matrix.translates(source, target):
            return target
        if lang is not None:
            raise _invalid_lang(f"{provider.name} can't translate from {source or DETECTED} into {target}")
    if lang is not None:
        raise _invalid_lang(f"{lang} is not a language {provider.name} translates into")
    raise _invalid_lang(f"none of your languages is one {provider.name} translates into")


def plan(
    session: Session,
    settings: Settings,
    provider: Provider,
    matrix: LanguageMatrix,
    viewer: Viewer,
    status_id: int,
    lang: str | None,
    accept_language: str | None,
) -> Plan:
    status = replica.status(session, status_id)
    # Not (yet) in the replica, or not the viewer's to see: the same 404 (nothing leaks).
    if status is None or not replica.may_see(session, status, viewer.account_id):
        raise NotFound()
    if status.visibility not in replica.PUBLIC_VISIBILITIES:
        raise Forbidden("This action is not allowed")
    source = matrix.source_of(status.language)
    defaults: list[str] = []
    if lang is None:
        if viewer.account_id is not None:
            held = replica.account_languages(session, viewer.account_id)
            if held is not None:
                defaults += [code for code in (held.default_language, held.locale) if code]
        defaults += [*accept_languages(accept_language), FALLBACK_LANGUAGE]
    target = _target(matrix, provider, source, status.language, lang, defaults)

    codes = (matrix.provider_code(source) if source is not None else None, matrix.provider_code(target))
    texts = _source_texts(status, provider, source, target)
    now = datetime.now(UTC)
    window_start = window_of(settings, now.timestamp())
    read = repository.lookup(session, [t.key for t in texts], now, viewer.subject, window_start)
    missing = [t for t in texts if t.key not in read.found]
    # A hit reports the count as it is; a miss is counted (and its rate set) by `count_against_limit`.
    rate = RateLimit.after(settings, window_start, read.taken)
    return Plan(status, source, target, *codes, texts, read.found, rate, window_start, missing=missing)


def count_against_limit(
    session: Session, settings: Settings, provider: Provider, plan: Plan, viewer: Viewer
) -> Plan:
    """Counts a translation that needs the provider against the viewer's limit: the plan with
    its rate, or 429 when the window is full. One statement, so concurrent requests can't both
    take the last."""
    taken = repository.take(session, viewer.subject, plan.window_start, settings.translation_rate_limit)
    if taken is None:
        rate = RateLimit.after(settings, plan.window_start, settings.translation_rate_limit)
        retry_after = max(1, rate.reset_at - int(time.time()))
        TRANSLATIONS.labels(provider.key, "rate_limited").inc()
        raise TooManyRequests(
            f"Too many translations: at most {rate.limit} in {settings.translation_rate_limit_window_seconds}"
            f" seconds; try again in {retry_after} seconds",
            headers={**rate.headers(), "Retry-After": str(retry_after)},
        )
    return replace(plan, rate=RateLimit.after(settings, plan.window_start, taken), counted=True)


def give_back(session: Session, plan: Plan, viewer: Viewer) -> None:
    if plan.counted:
        repository.give_back(session, viewer.subject, plan.window_start)


def remember(
    session: Session, settings: Settings, plan: Plan, translated: dict[CacheKey, CacheEntry]
) -> bool:
    """Caches the new translations unless the status changed (or went) since `plan` read it."""
    if replica.status_version(session, plan.status.id) != plan.status.version:
        return False
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=settings.translation_cache_seconds)
    repository.store(session, translated, status_id=plan.status.id, now=now, expires_at=expires_at)
    return True


# -- the provider's part -----------------------------------------------------------------------


def _batches(pieces: Sequence[str], max_characters: int, max_texts: int) -> list[list[int]]:
    """Indexes of `pieces` grouped into requests within the provider's limits, in order."""
    batches: list[list[int]] = []
    size = 0
    for index, piece in enumerate(pieces):
        if not batches or size + len(piece) > max_characters or len(batches[-1]) >= max_texts:
            batches.append([])
            size = 0
        batches[-1].append(index)
        size += len(piece)
    return batches


def _finish(kind: TextKind, translated: str) -> str:
    """What the provider sent, made safe: content through the same sanitiser as the posts
    service's HTML, the content warning back to plain text."""
    if kind == "content":
        return str(sanitise(translated))
    return html.unescape(nh3.clean(translated, tags=set())).strip()


async def translate_missing(provider: Provider, plan: Plan) -> dict[CacheKey, CacheEntry]:
    """Translations of the texts the cache lacked, split to fit the provider's limits; the
    requests for one status go out together and all must succeed."""
    source, target = plan.provider_source, plan.provider_target
    limit = provider.characters_per_request
    split = [segments.split(text.html, limit, plan.status.language) for text in plan.missing]
    pieces = [part.text for parts in split for part in parts if part.translate]
    results: list[Translated] = [Translated("")] * len(pieces)
    if pieces:
        batches = _batches(pieces, limit, provider.max_texts)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(provider.translate([pieces[i] for i in batch], source, target))
                    for batch in batches
                ]
        except ExceptionGroup as failed:
            # The first of the provider's failures (the others are cancelled); anything else is a bug.
            failure = next((e for e in failed.exceptions if isinstance(e, ProviderError)), None)
            if failure is None:
                raise
            raise failure from None
        for batch, task in zip(batches, tasks, strict=True):
            for index, result in zip(batch, task.result(), strict=True):
                results[index] = result
    out: dict[CacheKey, CacheEntry] = {}
    position = 0
    for text, parts in zip(plan.missing, split, strict=True):
        count = sum(1 for part in parts if part.translate)
        own = results[position : position + count]
        position += count
        joined = segments.join(parts, (r.text for r in own))
        detected = next((r.detected_language for r in own if r.detected_language), None)
        out[text.key] = CacheEntry(_finish(text.kind, joined), public_code(detected) if detected else None)
    return out


# -- the answer -------------------------------------------------------------------------------


def translation_entity(
    plan: Plan, provider: Provider, translated: dict[CacheKey, CacheEntry]
) -> dict[str, Any]:
    """Mastodon's Translation entity, every field (no polls or media here: null and [])."""
    entries = {**plan.found, **translated}
    by_kind = {text.kind: entries[text.key] for text in plan.texts}
    content = by_kind.get("content")
    spoiler = by_kind.get("spoiler_text")
    detected = next((e.detected_language for e in (content, spoiler) if e and e.detected_language), None)
    if plan.source is not None:
        detected_source = plan.status.language or plan.source
    else:
        detected_source = detected or plan.status.language or DETECTED
    return {
        "detected_source_language": detected_source,
        "language": plan.target,
        "provider": provider.name,
        "spoiler_text": spoiler.translated if spoiler else "",
        "content": content.translated if content else "",
        "poll": None,
        "media_attachments": [],
    }


# -- one request, end to end ------------------------------------------------------------------


async def _in_transaction(db: Database, limiter: CapacityLimiter, fn: Callable[..., T], *args: Any) -> T:
    """`fn(session, *args)` in its own short unit of work, on a worker thread."""

    def run() -> T:
        with db.unit_of_work() as session:
            return fn(session, *args)

    return await anyio.to_thread.run_sync(run, limiter=limiter)


# Plans made again when the status changed under one (edits a few milliseconds apart, at most).
PLAN_ATTEMPTS = 3


def _plan_and_count(
    db: Database,
    settings: Settings,
    provider: Provider,
    matrix: LanguageMatrix,
    viewer: Viewer,
    status_id: int,
    lang: str | None,
    accept_language: str | None,
) -> Plan:
    """The plan on a read-only session (autocommit: no BEGIN/COMMIT round trips for a hit), then,
    only when the provider is needed, the count against the rate limit in a transaction."""
    for _ in range(PLAN_ATTEMPTS):
        with db.read_only() as session:
            planned = plan(session, settings, provider, matrix, viewer, status_id, lang, accept_language)
            # The status and its cached texts are read by two statements: an edit landing between
            # them (which forgets the old text's translations) would send the old text to the
            # provider. A miss costs a provider call anyway; one more read makes it the current text's.
            if not planned.missing or replica.status_version(session, status_id) == planned.status.version:
                break
    if not planned.missing:
        return planned
    with db.unit_of_work() as session:
        return count_against_limit(session, settings, provider, planned, viewer)


@dataclass(frozen=True)
class Answer:
    translation: dict[str, Any]
    rate: RateLimit


async def translate_status(
    db: Database,
    limiter: CapacityLimiter,
    settings: Settings,
    provider: Provider,
    languages: LanguageCache,
    identity: Identity,
    status_id: int,
    lang: str | None,
    accept_language: str | None,
) -> Answer:
    """`limiter` bounds the worker threads that hold a database connection (the pool's size), so a
    burst waits on the event loop rather than in threads contending for connections."""
    viewer = Viewer.of(identity)
    try:
        matrix = await languages.get()
    except ProviderError as exc:
        TRANSLATIONS.labels(provider.key, "provider_error").inc()
        raise as_api_error(exc) from None
    # One hop to a worker thread for the whole plan (its queries are blocking I/O).
    planned = await anyio.to_thread.run_sync(
        _plan_and_count,
        db,
        settings,
        provider,
        matrix,
        viewer,
        status_id,
        lang,
        accept_language,
        limiter=limiter,
    )
    if not planned.missing:
        TRANSLATIONS.labels(provider.key, "cache").inc()
        return Answer(translation_entity(planned, provider, {}), planned.rate)
    try:
        translated = await translate_missing(provider, planned)
    except ProviderError as exc:
        await _in_transaction(db, limiter, give_back, planned, viewer)
        TRANSLATIONS.labels(provider.key, "provider_error").inc()
        raise as_api_error(exc) from None
    cached = await _in_transaction(db, limiter, remember, settings, planned, translated)
    TRANSLATIONS.labels(provider.key, "provider").inc()
    log.info(
        "status_translated",
        status_id=status_id,
        source=planned.source,
        target=planned.target,
        texts=len(planned.missing),
        cached=cached,
    )
    return Answer(translation_entity(planned, provider, translated), planned.rate)


def as_api_error(exc: ProviderError) -> ApiError:
    if exc.status_code == 422:
        return Unprocessable(exc.message)
    return ServiceUnavailable(exc.message)
