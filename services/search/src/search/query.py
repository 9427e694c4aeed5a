"""Mastodon's search syntax in `q`, parsed into what a search asks for (`Criteria`), which both index
backends compile into their own queries.

Words are ranked by relevance (any of them may match; more matches rank higher), `+word` must
match, `-word` must not; `"a phrase"` matches the words in order (with `+`/`-` too). Operators, as
Mastodon's `SearchQueryParser`: `from:username` (or `from:me`, `from:@name@this-host`),
`language:xx`, `before:`/`after:`/`during:` (`YYYY-MM-DD`, UTC days), `is:reply`, `is:sensitive`,
`has:link` (and `has:media`, `has:poll`, ...: what this server has none of), `in:library` (what the
reader wrote, favourited or was mentioned in) and `in:all`; each may be negated with `-`
(`-is:reply`, `-from:bob`, `-language:de`). An operator with a value it can't read, or a key it
doesn't know, counts as words, as does anything that can't be parsed: a query is never refused."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

# What the index's analyser makes of text: runs of letters and digits (lower-cased, accents
# folded), which is what `\w` sees once underscores are separators too.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_TOKEN = re.compile(r'([+-]?)(?:([a-z]+):)?("([^"]*)"?|\S+)', re.IGNORECASE)
HAS_VALUES = ("link", "media", "poll", "image", "video", "audio", "embed")
# What `has:` can find here: statuses carry no media, polls or embeds.
HAS_SUPPORTED = ("link",)


class Occur(StrEnum):
    should = "should"
    must = "must"
    must_not = "must_not"


@dataclass(frozen=True)
class TextClause:
    words: tuple[str, ...]
    occur: Occur
    phrase: bool = False


@dataclass
class Criteria:
    """What a status search asks for, from `q` and the parameters alike."""

    clauses: list[TextClause] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)  # usernames, or "me"
    not_authors: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    not_languages: list[str] = field(default_factory=list)
    # Half-open UTC time range [since, until).
    since: datetime | None = None
    until: datetime | None = None
    # Excluded ranges (`-during:`).
    not_between: list[tuple[datetime, datetime]] = field(default_factory=list)
    is_reply: bool | None = None
    is_sensitive: bool | None = None
    has: list[str] = field(default_factory=list)
    not_has: list[str] = field(default_factory=list)
    in_library: bool = False

    @property
    def has_text(self) -> bool:
        return any(c.occur is not Occur.must_not for c in self.clauses)

    def words(self) -> list[str]:
        return [w for c in self.clauses if c.occur is not Occur.must_not for w in c.words]

    def restrict_since(self, moment: datetime) -> None:
        self.since = moment if self.since is None else max(self.since, moment)

    def restrict_until(self, moment: datetime) -> None:
        self.until = moment if self.until is None else min(self.until, moment)


def words_of(text: str) -> tuple[str, ...]:
    return tuple(m.group(0).lower() for m in _WORD.finditer(text))


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _operator(criteria: Criteria, key: str, value: str, negated: bool) -> bool:
    """Applies `key:value`; False when it isn't an operator this parser knows how to read."""
    value = value.strip()
    if not value:
        return False
    lowered = value.lower()
    if key == "from":
        (criteria.not_authors if negated else criteria.authors).append(lowered.lstrip("@"))
        return True
    if key == "language":
        if not re.fullmatch(r"[a-z]{2,3}", lowered):
            return False
        (criteria.not_languages if negated else criteria.languages).append(lowered)
        return True
    if key in ("before", "after", "during"):
        day = _day(value)
        if day is None:
            return False
        start, end = _start(day), _start(day + timedelta(days=1))
        if key == "before":
            criteria.restrict_since(start) if negated else criteria.restrict_until(start)
        elif key == "after":
            criteria.restrict_until(end) if negated else criteria.restrict_since(end)
        elif negated:
            criteria.not_between.append((start, end))
        else:
            criteria.restrict_since(start)
            criteria.restrict_until(end)
        return True
    if key == "is":
        if lowered == "reply":
            criteria.is_reply = not negated
        elif lowered == "sensitive":
            criteria.is_sensitive = not negated
        else:
            return False
        return True
    if key == "has":
        if lowered not in HAS_VALUES:
            return False
        (criteria.not_has if negated else criteria.has).append(lowered)
        return True
    if key == "in":
        if lowered == "library":
            criteria.in_library = criteria.in_library or not negated
            return True
        return lowered in ("all", "public")
    return False


def parse(q: str) -> Criteria:
    criteria = Criteria()
    for match in _TOKEN.finditer(q):
        sign, key, raw, quoted = match.group(1), match.group(2), match.group(3), match.group(4)
        occur = {"+": Occur.must, "-": Occur.must_not}.get(sign, Occur.should)
        value = quoted if quoted is not None else raw
        if key is not None and _operator(criteria, key.lower(), value, sign == "-"):
            continue
        text = f"{key}:{value}" if key is not None else value
        words = words_of(text)
        if not words:
            continue
        phrase = quoted is not None and key is None and len(words) > 1
        if phrase or len(words) == 1:
            criteria.clauses.append(TextClause(words, occur, phrase=phrase))
        elif occur is Occur.should:
            # "quick-brown", "a.b": a token that splits into words ranks them like typed words.
            criteria.clauses.extend(TextClause((w,), occur) for w in words)
        else:
            criteria.clauses.append(TextClause(words, occur, phrase=True))
    return criteria
