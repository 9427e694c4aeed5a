"""Language codes between the public API and the provider.

The API speaks BCP 47 as Mastodon shows it (`en`, `pt-BR`, `zh-Hans`): a status's `language`, a
client's `lang`, an account's language, `Accept-Language`. Each provider has its own codes
(Microsoft `zh-Hans`, DeepL `EN-GB`, LibreTranslate `zh`), and lists which it translates into
which. `LanguageMatrix` holds that list in public codes, and finds for a requested language the
closest one the provider offers (langcodes' matching: `en-GB` -> `en`, `zh-TW` -> `zh-Hant`,
`no` -> `nb`). `LanguageCache` keeps the provider's list for a day in each process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import langcodes
import structlog

from translate.providers import LanguagePairs, Provider
from translate.providers.errors import ProviderError

log = structlog.get_logger(__name__)

# Mastodon's key for "a text whose language the provider detects" in translation_languages.
DETECTED = "und"
# At most this many languages are read from an Accept-Language header.
MAX_ACCEPTED_LANGUAGES = 20


def public_code(code: str) -> str:
    """A provider's (or a client's) code as BCP 47 is written: `EN-GB` -> `en-GB`, `zh-hans` ->
    `zh-Hans`. A code langcodes can't parse stays as it is, lower case."""
    try:
        return langcodes.standardize_tag(code)
    except ValueError:  # langcodes' LanguageTagError is one
        return code.lower()


def closest(wanted: str, offered: Iterable[str]) -> str | None:
    """The language of `offered` closest to `wanted`, if any is close enough to count as it."""
    choices = list(offered)
    if not choices:
        return None
    try:
        return langcodes.closest_supported_match(wanted, choices)
    except ValueError:  # langcodes' LanguageTagError is one
        return None


def is_language_tag(value: str) -> bool:
    return len(value) <= 35 and langcodes.tag_is_valid(value)


def accept_languages(header: str | None) -> list[str]:
    """The languages of an `Accept-Language` header, most preferred first (`*` and q=0 left out)."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:MAX_ACCEPTED_LANGUAGES]):
        tag, _, parameters = part.strip().partition(";")
        tag = tag.strip()
        quality = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0 and is_language_tag(tag):
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


@dataclass(frozen=True)
class LanguageMatrix:
    """A provider's language pairs in public codes. `targets[source]` are the languages a text in
    `source` translates into; `targets["und"]` those of a text whose language the provider
    detects. `to_provider` maps every public code back to the provider's."""

    targets: dict[str, tuple[str, ...]]
    to_provider: dict[str, str]
    every_target: frozenset[str] = field(init=False)
    # What GET /api/v1/instance/translation_languages answers, rendered once.
    json: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        every = {t for targets in self.targets.values() for t in targets}
        object.__setattr__(self, "every_target", frozenset(every))
        listing = {source: list(targets) for source, targets in sorted(self.targets.items())}
        object.__setattr__(self, "json", json.dumps(listing, separators=(",", ":")).encode())

    @classmethod
    def from_pairs(cls, pairs: LanguagePairs) -> LanguageMatrix:
        to_provider: dict[str, str] = {}

        def public(code: str) -> str:
            mapped = public_code(code)
            to_provider.setdefault(mapped, code)
            return mapped

        targets: dict[str, tuple[str, ...]] = {}
        for source, source_targets in pairs.targets.items():
            key = DETECTED if source is None else public(source)
            targets.setdefault(key, tuple(sorted({public(t) for t in source_targets} - {key})))
        # A status's language is often a bare language (`zh`, `sr`) where the provider lists only
        # scripts or regions of it (`zh-Hans`, `sr-Cyrl`): such a bare language is a source too,
        # with the targets of the closest one listed.
        sources = [s for s in targets if s != DETECTED]
        for source in sources:
            bare = source.split("-")[0]
            if bare not in targets:
                match = closest(bare, sources)
                if match is not None:
                    targets[bare] = tuple(t for t in targets[match] if t != bare)
                    to_provider.setdefault(bare, to_provider[match])
        return cls(targets, to_provider)

    def source_of(self, language: str | None) -> str | None:
        """The public source code a status in `language` is translated from; None when it has no
        language or one the provider doesn't list: the provider then detects it."""
        if not language:
            return None
        if language in self.targets and language != DETECTED:
            return language
        match = closest(language, (s for s in self.targets if s != DETECTED))
        return match

    def resolve_target(self, wanted: str, source: str | None) -> str | None:
        """The public target code closest to `wanted` among everything the provider translates
        into, or the source itself (so asking for the source's own language is recognised)."""
        offered = set(self.every_target)
        if source is not None:
            offered.add(source)
        return closest(wanted, sorted(offered))

    def translates(self, source: str | None, target: str) -> bool:
        return target in self.targets.get(source if source is not None else DETECTED, ())

    def provider_code(self, code: str) -> str:
        return self.to_provider.get(code, code)


class LanguageCache:
    """The provider's language list, fetched when first needed and again once it is older than
    `TRANSLATION_LANGUAGES_CACHE_SECONDS`. When a fetch fails the older list goes on serving;
    without one, requests fail at once for `TRANSLATION_LANGUAGES_RETRY_SECONDS` rather than each
    waiting on the provider again."""

    def __init__(self, provider: Provider, max_age: float, retry_after_failure: float):
        self.provider = provider
        self.max_age = max_age
        self.retry_after_failure = retry_after_failure
        self._matrix: LanguageMatrix | None = None
        self._fetched_at = 0.0
        self._failure: ProviderError | None = None
        self._failed_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self, now: float) -> bool:
        return self._matrix is not None and now - self._fetched_at < self.max_age

    async def get(self) -> LanguageMatrix:
        if self._fresh(time.monotonic()):
            assert self._matrix is not None
            return self._matrix
        if self._matrix is not None and self._lock.locked():
            return self._matrix  # someone is fetching: the older list serves meanwhile
        async with self._lock:
            now = time.monotonic()
            if self._fresh(now):
                assert self._matrix is not None
                return self._matrix
            if self._failure is not None and now - self._failed_at < self.retry_after_failure:
                if self._matrix is not None:
                    return self._matrix
                raise self._failure
            try:
                matrix = LanguageMatrix.from_pairs(await self.provider.languages())
            except ProviderError as exc:
                self._failure, self._failed_at = exc, time.monotonic()
                if self._matrix is not None:
                    log.warning("translation_languages_stale", provider=self.provider.key, error=exc.message)
                    return self._matrix
                raise
            self._matrix, self._fetched_at, self._failure = matrix, time.monotonic(), None
            log.info("translation_languages_fetched", provider=self.provider.key, sources=len(matrix.targets))
            return matrix
