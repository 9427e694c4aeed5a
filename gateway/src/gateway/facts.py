"""What the instance entities say that only the services know: how many accounts and statuses
there are (the users service) and whether translation is on (the translate service). Refreshed in
the background every `INSTANCE_FACTS_REFRESH_SECONDS`, so `/api/v1/instance` (fetched by every app
at start-up) never waits on a service. A service that can't be reached keeps its last answer,
except translation, which is off while the translate service is down (a Translate button would
only fail)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# (service, path) -> its JSON answer; raises when it can't be had.
FetchFrom = Callable[[str, str], Awaitable[dict[str, Any]]]
STATS_PATH = "/internal/stats"
TRANSLATION_PATH = "/internal/translation"


@dataclass(frozen=True)
class InstanceFacts:
    user_count: int = 0
    status_count: int = 0
    active_month: int = 0
    translation_enabled: bool = False


class FactsKeeper:
    def __init__(self, fetch: FetchFrom, refresh_seconds: float):
        self._fetch = fetch
        self.refresh_seconds = refresh_seconds
        self.facts = InstanceFacts()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._refresh_forever(), name="instance-facts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            await self.refresh()

    async def refresh(self) -> None:
        answers: tuple[dict[str, Any] | BaseException, ...] = await asyncio.gather(
            self._fetch("users", STATS_PATH),
            self._fetch("translate", TRANSLATION_PATH),
            return_exceptions=True,
        )
        stats, translation = answers
        facts = self.facts
        try:
            if isinstance(stats, BaseException):
                raise stats
            facts = replace(
                facts,
                user_count=int(stats["user_count"]),
                status_count=int(stats["status_count"]),
                active_month=int(stats.get("active_month", 0)),
            )
        except Exception as exc:
            log.info("instance_stats_unavailable", error=repr(exc))
        enabled = isinstance(translation, dict) and translation.get("enabled") is True
        self.facts = replace(facts, translation_enabled=enabled)
