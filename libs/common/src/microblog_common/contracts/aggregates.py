"""Which aggregate each versioned event type belongs to, over every producer's contracts: what the
shared consumer reads to drop stale events (`events/versions.py`)."""

from __future__ import annotations

from microblog_common.contracts import posts, users

AGGREGATE_OF: dict[str, str] = {**users.AGGREGATE_OF, **posts.AGGREGATE_OF}
