"""The in-process bus of the embedded mode: same outbox relay and inbox consumer, no broker.

`publish` returns once every subscribed service has run its handler's first attempt, so the
relay marks an outbox row published only after the event was handled (or scheduled for retry):
a crash before that leaves the row unpublished and it is delivered again on the next start.
Events for a service of the topology that has not subscribed yet (services start concurrently)
are held and handed over when it does, as its broker queue would."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import structlog

from microblog_common.events.bus import EventBus, PermanentEventError, Subscription, topic_matches
from microblog_common.events.envelope import Event
from microblog_common.metrics import EVENTS_DEAD_LETTERED, EVENTS_RETRIED

log = structlog.get_logger(__name__)


class MemoryBus(EventBus):
    def __init__(self, topology: Mapping[str, Sequence[str]] | None = None) -> None:
        self.topology = dict(topology or {})
        self._held: dict[str, list[Event]] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._live: list[Subscription] = []
        self.dead_letters: dict[str, list[Event]] = {}
        self._retries: set[asyncio.Task[None]] = set()
        self._started = False
        self._closing = False

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        self._closing = True
        for task in list(self._retries):
            task.cancel()
        self._started = False

    def is_healthy(self) -> bool:
        return self._started

    async def subscribe(self, subscription: Subscription) -> None:
        if not subscription.durable:
            self._live.append(subscription)
            return
        self._subscriptions[subscription.service] = subscription
        for event in self._held.pop(subscription.service, []):
            await self._deliver(subscription, event, attempt=1)

    async def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.durable:
            self._subscriptions.pop(subscription.service, None)
        elif subscription in self._live:
            self._live.remove(subscription)

    async def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            targets = [
                s
                for s in self._subscriptions.values()
                if any(topic_matches(p, event.type) for p in s.patterns)
            ]
            for service, patterns in self.topology.items():
                if service not in self._subscriptions and any(topic_matches(p, event.type) for p in patterns):
                    self._held.setdefault(service, []).append(event)
            live = [s for s in self._live if any(topic_matches(p, event.type) for p in s.patterns)]
            await asyncio.gather(
                *(self._deliver(s, event, attempt=1) for s in targets),
                *(self._deliver_live(s, event) for s in live),
            )

    async def _deliver_live(self, sub: Subscription, event: Event) -> None:
        try:
            await sub.handler(event)
        except Exception as exc:  # best effort, as a live queue is
            log.warning("live_event_failed", service=sub.service, event_type=event.type, error=str(exc))

    async def _deliver(self, sub: Subscription, event: Event, attempt: int) -> None:
        try:
            await sub.handler(event)
        except Exception as exc:
            delay = None if isinstance(exc, PermanentEventError) else sub.retry.delay_after(attempt)
            if delay is None or self._closing:
                self.dead_letters.setdefault(sub.service, []).append(event)
                EVENTS_DEAD_LETTERED.labels(sub.service, event.type).inc()
                log.error(
                    "event_dead_lettered",
                    queue=sub.queue,
                    event_id=str(event.id),
                    event_type=event.type,
                    attempts=attempt,
                    error=str(exc),
                )
                return
            log.warning(
                "event_retry_scheduled", queue=sub.queue, event_id=str(event.id), attempt=attempt, delay=delay
            )
            EVENTS_RETRIED.labels(sub.service, event.type).inc()
            task = asyncio.create_task(self._retry_later(sub, event, attempt + 1, delay))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    async def _retry_later(self, sub: Subscription, event: Event, attempt: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._deliver(sub, event, attempt)
