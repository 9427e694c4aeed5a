"""The bus interface: publish confirmed events, subscribe a service's queue. Two implementations:
RabbitMQ (`rabbitmq.py`) for deployments and tests, in-process (`memory.py`) for the embedded mode.
Both feed the same inbox consumer and are fed by the same outbox relay."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from microblog_common.events.envelope import Event

EventCallback = Callable[[Event], Awaitable[None]]


class PermanentEventError(Exception):
    """A handler failure that retrying cannot fix: the message is dead-lettered at once."""


@dataclass(frozen=True)
class RetryPolicy:
    delays: tuple[float, ...] = (1.0, 5.0, 30.0)

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def delay_after(self, attempt: int) -> float | None:
        """Delay before the next try after failed attempt number `attempt` (1-based), or None
        when the message has used all its attempts and goes to the dead-letter queue."""
        if attempt >= self.max_attempts:
            return None
        return self.delays[attempt - 1]


@dataclass(frozen=True)
class Subscription:
    """A consuming service's durable queue, `<service>.events`, bound to `patterns`: every event
    is handled once by one of the service's consumers, retried with back-off, dead-lettered last.

    `durable=False` makes a live subscription instead: a queue of this process alone (exclusive,
    deleted when the process goes), so every replica gets every event, e.g. to push it to the
    streams its clients hold open. Best effort: no retries, nothing kept while the process is
    down or disconnected (durable state comes from the durable queue)."""

    service: str
    patterns: tuple[str, ...]
    handler: EventCallback
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    prefetch: int = 32
    durable: bool = True

    @property
    def queue(self) -> str:
        return f"{self.service}.events" if self.durable else f"{self.service}.live"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.service}.events.dead"


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` zero or more."""
    p_words, k_words = pattern.split("."), routing_key.split(".")

    def match(i: int, j: int) -> bool:
        if i == len(p_words):
            return j == len(k_words)
        if p_words[i] == "#":
            return any(match(i + 1, jj) for jj in range(j, len(k_words) + 1))
        if j == len(k_words):
            return False
        return (p_words[i] == "*" or p_words[i] == k_words[j]) and match(i + 1, j + 1)

    return match(0, 0)


class EventBus(ABC):
    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """Stop consuming (letting in-flight handlers finish) and disconnect."""

    @abstractmethod
    async def publish(self, events: Sequence[Event]) -> None:
        """Return only once the broker has confirmed every event; raise otherwise."""

    @abstractmethod
    async def subscribe(self, subscription: Subscription) -> None:
        """Start consuming. A durable subscription lasts until `close`; a live one until
        `unsubscribe(subscription)` or `close`."""

    @abstractmethod
    async def unsubscribe(self, subscription: Subscription) -> None:
        """Stop a live subscription and drop its queue."""

    @abstractmethod
    def is_healthy(self) -> bool: ...
