"""Rate limits: rules as data, counted with the `limits` library (fixed windows).

Every rule whose methods and path match a request counts it, under the rule's key: the client's
IP, or (key="identity") the verified account or token when there is one and the IP otherwise.
The response reports the rule closest to its limit in Mastodon's headers; a request that would
go over any rule is refused with 429 and counts against none.

Counters live in `RATE_LIMIT_STORAGE_URI` (in this process by default, so each replica counts
on its own)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

from limits import RateLimitItem, parse_many
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from microblog_common.internal_auth import Identity

KeyKind = Literal["ip", "identity"]


@dataclass(frozen=True)
class RateLimitRule:
    """`rate` in `limits` notation ("300/5 minutes", "25 per 5 minutes", "1/second;100/hour").
    `path` is a regular expression matched against the whole path; None matches every path.
    `services` limits the rule to requests the route table gives to those services, and
    `other_services` to requests it gives to none of them (or that it doesn't route)."""

    name: str
    rate: str
    key: KeyKind = "identity"
    methods: frozenset[str] | None = None
    path: str | None = None
    services: frozenset[str] | None = None
    other_services: frozenset[str] | None = None
    items: tuple[RateLimitItem, ...] = field(init=False, repr=False, compare=False)
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(parse_many(self.rate)))
        object.__setattr__(self, "_pattern", re.compile(self.path) if self.path is not None else None)
        if self.methods is not None:
            object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    def applies_to(self, method: str, path: str, service: str | None = None) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.services is not None and service not in self.services:
            return False
        if self.other_services is not None and service in self.other_services:
            return False
        return self._pattern is None or self._pattern.fullmatch(path) is not None


def default_rules(
    default_rate: str,
    health_rate: str,
    sign_in_rate: str | None = None,
    registration_rate: str | None = None,
    pages_rate: str | None = None,
) -> list[RateLimitRule]:
    """Mastodon's defaults: 300 requests per 5 minutes per account, or per IP without one; and,
    per IP, the abuse limits on signing in (password and code forms) and on registering. The web
    UI's pages and static files count apart, per IP (`pages_rate`), and not against the API's."""
    post = frozenset({"POST"})
    abuse = []
    if sign_in_rate:
        abuse.append(
            RateLimitRule("sign_in", sign_in_rate, key="ip", methods=post, path=r"/oauth/(token|authorize)")
        )
    if registration_rate:
        abuse.append(
            RateLimitRule("registration", registration_rate, key="ip", methods=post, path=r"/api/v1/accounts")
        )
    pages = []
    web = frozenset({"web"})
    if pages_rate:
        pages.append(RateLimitRule("pages", pages_rate, key="ip", services=web))
    return [
        *abuse,
        RateLimitRule("health", health_rate, key="ip", path=r"/health/.*"),
        *pages,
        RateLimitRule(
            "api", default_rate, key="identity", path=r"(?!/health/).*", other_services=web if pages else None
        ),
    ]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", _timestamp(self.reset_at)),
        ]

    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))


@lru_cache(maxsize=1024)
def _timestamp(epoch: float) -> bytes:
    """ISO 8601 in UTC; cached, as every request in a window shares its reset time."""
    text = datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z").encode()


def rate_limit_key(kind: KeyKind, client_ip: str, identity: Identity | None) -> str:
    if kind == "identity" and identity is not None:
        if identity.user_id is not None:
            return f"user:{identity.user_id}"
        return f"token:{identity.token_id}"
    return f"ip:{client_ip}"


class RateLimiter:
    def __init__(self, rules: Sequence[RateLimitRule], storage_uri: str = "async+memory://"):
        self.rules = tuple(rules)
        self.storage_uri = storage_uri
        self._strategy: FixedWindowRateLimiter | None = None

    @property
    def strategy(self) -> FixedWindowRateLimiter:
        # Built on first use, inside the running event loop (the memory store schedules its
        # expiry there; a network store would connect there).
        if self._strategy is None:
            self._strategy = FixedWindowRateLimiter(storage_from_string(self.storage_uri))
        return self._strategy

    async def check(
        self, method: str, path: str, client_ip: str, identity: Identity | None, service: str | None = None
    ) -> Verdict | None:
        """Count the request (`service`: where the route table sends it); None when no rule applies."""
        checks = [
            (item, rule.name, rate_limit_key(rule.key, client_ip, identity))
            for rule in self.rules
            if rule.applies_to(method, path, service)
            for item in rule.items
        ]
        if not checks:
            return None
        if len(checks) == 1:
            # The common case (one rule, one window): a refused request may count against it,
            # since a spent fixed window reads the same whatever its count beyond the limit.
            item, name, key = checks[0]
            allowed = await self.strategy.hit(item, name, key)
            stats = await self.strategy.get_window_stats(item, name, key)
            return Verdict(allowed, item.amount, stats.remaining, stats.reset_time)
        for item, name, key in checks:
            if not await self.strategy.test(item, name, key):
                stats = await self.strategy.get_window_stats(item, name, key)
                return Verdict(False, item.amount, 0, stats.reset_time)
        for item, name, key in checks:
            await self.strategy.hit(item, name, key)
        verdicts = []
        for item, name, key in checks:
            stats = await self.strategy.get_window_stats(item, name, key)
            verdicts.append(Verdict(True, item.amount, stats.remaining, stats.reset_time))
        # Report the rule that will bite first: the fewest requests left, then the furthest reset.
        return min(verdicts, key=lambda v: (v.remaining, -v.reset_at))
