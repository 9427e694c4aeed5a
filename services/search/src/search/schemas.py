"""The parameters of the search endpoints, read and checked the way Mastodon reads them (booleans as
`true`/`1`/`false`/`0`, ids as strings). Anything that can't be read is a 422 in the API's error
format, naming the parameter; nothing reaches the index or the database unchecked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fastapi import Query

from microblog_common.errors import ERR_TOO_LONG, BadRequest, Unprocessable
from microblog_common.errors import invalid as invalid_field
from microblog_common.ids import parse_id
from microblog_common.text import UNACCEPTABLE_DESCRIPTION, acceptable

MAX_QUERY_LENGTH = 1000
STATUS_LIMIT = (20, 40)
ACCOUNT_LIMIT = (40, 80)
MAX_OFFSET = 10_000
TYPES = ("accounts", "hashtags", "statuses")
SORTS = ("relevance", "latest")
_TRUE, _FALSE = ("true", "1", "t", "on", "yes"), ("false", "0", "f", "off", "no", "")


def invalid(field: str, message: str) -> Unprocessable:
    """Mastodon's 422 for one parameter (the shared shape, `microblog_common.errors`)."""
    return invalid_field(field, description=message)


def _text(field: str, value: str | None, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise BadRequest(f"param is missing or the value is empty: {field}")
        return None
    # The one rule of acceptable text (`microblog_common.text`): no NUL, lone surrogates or
    # control characters reach the database or the index.
    if not acceptable(value):
        raise invalid(field, UNACCEPTABLE_DESCRIPTION)
    if len(value) > MAX_QUERY_LENGTH:
        raise invalid_field(field, ERR_TOO_LONG, f"is too long (maximum is {MAX_QUERY_LENGTH} characters)")
    return value


def _bool(field: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise invalid(field, "is not a boolean")


def _int(field: str, value: str | None, default: int, low: int, high: int, *, clamp: bool) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise invalid(field, "is not a number") from None
    if number < low:
        raise invalid(field, f"must be at least {low}")
    if number > high and not clamp:
        raise invalid(field, f"must be at most {high}")
    return min(number, high)


def _id(field: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise invalid(field, "is not an id")
    return parsed


def _moment(field: str, value: str | None, *, end_of_day: bool) -> datetime | None:
    """A date (`2026-01-31`: its start, or with `end_of_day` the start of the next day) or an ISO
    8601 time (UTC unless it says otherwise)."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(field, "is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SearchParams:
    q: str
    type: str | None
    resolve: bool
    following: bool
    account_id: int | None
    max_id: int | None
    min_id: int | None
    limit: int
    offset: int
    language: str | None
    author: str | None
    since: datetime | None
    until: datetime | None
    fuzzy: bool
    latest: bool


# Async: parsing only, so no worker-thread hop (a sync dependency costs one).
async def search_params(
    q: str | None = Query(None, description="What to search for, with Mastodon's operators"),
    type: str | None = Query(None, description="accounts, hashtags or statuses (default: all three)"),
    resolve: str | None = Query(None),
    following: str | None = Query(None, description="only accounts the caller follows"),
    account_id: str | None = Query(None, description="only statuses by this account"),
    exclude_unreviewed: str | None = Query(None, description="accepted; every hashtag is reviewed here"),
    max_id: str | None = Query(None),
    min_id: str | None = Query(None),
    limit: str | None = Query(None, description="20 by default, at most 40"),
    offset: str | None = Query(None),
    language: str | None = Query(None, description="extension: statuses in this language (ISO 639)"),
    author: str | None = Query(None, description="extension: statuses by this account (id or username)"),
    since: str | None = Query(None, description="extension: statuses from this date or time on"),
    until: str | None = Query(None, description="extension: statuses up to this date (inclusive) or time"),
    fuzzy: str | None = Query(None, description="extension: typo tolerance (default true)"),
    sort: str | None = Query(None, description="extension: relevance (default) or latest"),
) -> SearchParams:
    text = _text("q", q, required=True) or ""
    if type not in (None, "", *TYPES):
        raise invalid("type", "is not one of accounts, hashtags, statuses")
    if sort not in (None, "", *SORTS):
        raise invalid("sort", "is not one of relevance, latest")
    lang = _text("language", language)
    if lang is not None and lang != "" and not re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z]{2,4})?", lang):
        raise invalid("language", "is not an ISO 639 language code")
    _bool("exclude_unreviewed", exclude_unreviewed, False)
    since_at = _moment("since", since, end_of_day=False)
    until_at = _moment("until", until, end_of_day=True)
    return SearchParams(
        q=text.strip(),
        type=type or None,
        resolve=_bool("resolve", resolve, False),
        following=_bool("following", following, False),
        account_id=_id("account_id", account_id),
        max_id=_id("max_id", max_id),
        min_id=_id("min_id", min_id),
        limit=_int("limit", limit, STATUS_LIMIT[0], 1, STATUS_LIMIT[1], clamp=True),
        offset=_int("offset", offset, 0, 0, MAX_OFFSET, clamp=False),
        language=lang.lower()[:2] if lang else None,
        author=_text("author", author) or None,
        since=since_at,
        until=until_at,
        fuzzy=_bool("fuzzy", fuzzy, True),
        latest=sort == "latest",
    )


@dataclass(frozen=True)
class AccountSearchParams:
    q: str
    limit: int
    offset: int
    resolve: bool
    following: bool


async def account_search_params(
    q: str | None = Query(None),
    limit: str | None = Query(None, description="40 by default, at most 80"),
    offset: str | None = Query(None),
    resolve: str | None = Query(None),
    following: str | None = Query(None),
) -> AccountSearchParams:
    text = _text("q", q, required=True) or ""
    return AccountSearchParams(
        q=text.strip(),
        limit=_int("limit", limit, ACCOUNT_LIMIT[0], 1, ACCOUNT_LIMIT[1], clamp=True),
        offset=_int("offset", offset, 0, 0, MAX_OFFSET, clamp=False),
        resolve=_bool("resolve", resolve, False),
        following=_bool("following", following, False),
    )
