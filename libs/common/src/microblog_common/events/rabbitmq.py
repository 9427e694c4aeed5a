"""The RabbitMQ bus: confirmed publishing to one durable topic exchange, and per-service durable
queues consumed with manual acks, delayed retries and a dead-letter queue.

Topology of a consuming service `svc` (all queues quorum, see `_queue_arguments`):

    microblog.events (topic) --pattern--> svc.events --handler fails--> svc.events.retry.<ms>
                                              ^                              | (TTL expires,
                                              +---- default exchange <-------+  dead-lettered back)
    svc.events --unparseable / permanent error / attempts used up--> svc.events.dead

A failed message is republished (with publisher confirms) to the retry queue of its delay,
carrying its attempt number in a header, and only then acked, so it is never in neither queue and
the messages behind it keep flowing. The main queue's own dead-lettering (its delivery limit)
only catches messages that crash the consumer before it can ack them.

Quorum rather than classic queues: they are the replicated, data-safe queue type (classic
mirroring is deprecated in 3.x and gone in 4.0), count deliveries so a message that kills the
consumer every time is parked instead of looping forever, and since 3.10 support message TTL and
at-least-once dead-lettering, which the retry queues rely on to hand messages back without loss.

Consumers are re-established by a supervisor of our own rather than by aio-pika's robust
restoration: the broker can cancel a consumer (queue deleted, leader moved) while the connection
stays up, which aio-pika has not always recovered (aio-pika #334, aiormq #187).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection

from microblog_common.events.bus import EventBus, PermanentEventError, Subscription
from microblog_common.events.envelope import Event, EventParseError
from microblog_common.logging import bound
from microblog_common.metrics import EVENTS_DEAD_LETTERED, EVENTS_RETRIED

log = structlog.get_logger(__name__)

ATTEMPT_HEADER = "x-attempt"
ORIGINAL_ROUTING_KEY_HEADER = "x-original-routing-key"
DEAD_REASON_HEADER = "x-dead-letter-reason"
DEAD_ERROR_HEADER = "x-dead-letter-error"
DEAD_AT_HEADER = "x-dead-lettered-at"
# Headers the broker adds when it dead-letters (TTL expiry of a retry queue); not carried over.
_BROKER_DEATH_HEADERS = ("x-death", "x-first-death-", "x-last-death-")

# Deliveries of one message without an ack (consumer crashes, lost connections) before the
# broker parks it: retries proper go through the retry queues and do not count here.
DELIVERY_LIMIT = 10


def redact_url(url: str) -> str:
    """The broker URL without its credentials, for logs."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _queue_arguments(**extra: Any) -> dict[str, Any]:
    return {"x-queue-type": "quorum", **extra}


def _dead_letter_to(queue: str) -> dict[str, Any]:
    # At-least-once dead-lettering needs reject-publish overflow; it is what makes a message
    # handed from one queue to the other survive a broker crash in between.
    return {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare_service_queue(
    channel: AbstractRobustChannel,
    exchange: aio_pika.abc.AbstractExchange,
    service: str,
    patterns: Sequence[str],
) -> aio_pika.abc.AbstractQueue:
    """A consuming service's main queue (bound to `patterns`) and its dead-letter queue, declared
    with the same arguments wherever they are declared (a mismatch would close the channel)."""
    dead = f"{service}.events.dead"
    await channel.declare_queue(dead, durable=True, arguments=_queue_arguments(), robust=False)
    queue = await channel.declare_queue(
        f"{service}.events",
        durable=True,
        arguments=_queue_arguments(**_dead_letter_to(dead), **{"x-delivery-limit": DELIVERY_LIMIT}),
        robust=False,
    )
    for pattern in patterns:
        await queue.bind(exchange, routing_key=pattern, robust=False)
    return queue


def _consumers_of(channel: object) -> dict[str, Any]:
    """The consumers aiormq's channel holds by tag (not part of aio-pika's typed interface)."""
    consumers: dict[str, Any] = getattr(channel, "consumers", {})
    return consumers


def _attempt_of(message: AbstractIncomingMessage) -> int:
    raw = (message.headers or {}).get(ATTEMPT_HEADER, 1)
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    try:
        return max(1, int(raw))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1


def _carried_headers(message: AbstractIncomingMessage) -> dict[str, Any]:
    return {k: v for k, v in (message.headers or {}).items() if not k.startswith(_BROKER_DEATH_HEADERS)}


def _event_message(event: Event) -> aio_pika.Message:
    headers: dict[str, Any] = {
        "event_version": event.version,
        "producer": event.producer,
        "subject": event.subject,
    }
    if event.correlation_id:
        headers["correlation_id"] = event.correlation_id
    return aio_pika.Message(
        body=event.to_json().encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(event.id),
        type=event.type,
        correlation_id=event.correlation_id,
        timestamp=event.occurred_at,
        app_id=event.producer,
        headers=headers,
    )


class RabbitBus(EventBus):
    def __init__(
        self,
        url: str,
        *,
        exchange: str = "microblog.events",
        connection_name: str | None = None,
        publish_timeout: float = 30.0,
        close_timeout: float = 10.0,
        watchdog_interval: float = 5.0,
        reconnect_interval: float = 1.0,
        topology: Mapping[str, Sequence[str]] | None = None,
    ):
        self.url = url
        self.topology = dict(topology or {})
        self.exchange_name = exchange
        self.connection_name = connection_name or f"microblog-{os.getpid()}"
        self.publish_timeout = publish_timeout
        self.close_timeout = close_timeout
        self.watchdog_interval = watchdog_interval
        self.reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._consumers: list[_QueueConsumer] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._closing = False
        self._connected = False

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self._connection is not None:
            return
        self._closing = False
        self._connection = await aio_pika.connect_robust(
            self.url,
            client_properties={"connection_name": self.connection_name},
            reconnect_interval=self.reconnect_interval,
            timeout=10,
        )
        self._connected = True
        self._connection.close_callbacks.add(self._on_connection_lost)
        self._connection.reconnect_callbacks.add(self._on_reconnected)
        try:
            # Confirms, but unroutable events are fine: a type nobody consumes yet is not an error.
            self._publish_channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=False
            )
            self._exchange = await self._publish_channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            await self._declare_topology()
        except BaseException:
            await self.close()
            raise
        log.info("rabbitmq_connected", url=redact_url(self.url), exchange=self.exchange_name)

    async def _declare_topology(self) -> None:
        """Every consumer's queue and bindings, so nothing published before a consumer's first
        start is dropped as unroutable (see topology.py)."""
        if not self.topology or self._connection is None:
            return
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True, robust=False
            )
            for service, patterns in self.topology.items():
                await declare_service_queue(channel, exchange, service, patterns)
        finally:
            await channel.close()

    async def close(self) -> None:
        self._closing = True
        for consumer in self._consumers:
            await consumer.stop_consuming()
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=self.close_timeout)
            if pending:
                log.warning("rabbitmq_close_handlers_unfinished", count=len(pending))
        for consumer in self._consumers:
            await consumer.close()
        self._consumers.clear()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        self._connection = self._publish_channel = self._exchange = None
        log.info("rabbitmq_closed")

    def is_healthy(self) -> bool:
        connection, channel = self._connection, self._publish_channel
        if self._closing or connection is None or channel is None:
            return False
        if connection.is_closed or not connection.connected.is_set() or channel.is_closed:
            return False
        return all(consumer.is_consuming() for consumer in self._consumers)

    def _on_connection_lost(self, _sender: object, exc: BaseException | None) -> None:
        # Also called for every failed reconnection attempt: say it once per outage.
        if not self._closing and self._connected:
            self._connected = False
            log.warning("rabbitmq_connection_lost", error=str(exc) if exc else None)

    def _on_reconnected(self, _sender: object) -> None:
        self._connected = True
        log.info("rabbitmq_reconnected", url=redact_url(self.url))
        for consumer in self._consumers:
            consumer.wake()

    # -- publishing ------------------------------------------------------------------------
    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        exchange = self._exchange
        if exchange is None or self._closing:
            raise RuntimeError("the RabbitMQ bus is not started")
        # All at once on one confirming channel; each publish returns when its confirm arrives.
        results = await asyncio.wait_for(
            asyncio.gather(
                *(exchange.publish(_event_message(e), routing_key=e.type, mandatory=False) for e in events),
                return_exceptions=True,
            ),
            timeout=self.publish_timeout,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    # -- consuming -------------------------------------------------------------------------
    async def subscribe(self, subscription: Subscription) -> None:
        if self._connection is None:
            raise RuntimeError("start the RabbitMQ bus before subscribing")
        consumer = _QueueConsumer(self, self._connection, subscription)
        await consumer.start()
        self._consumers.append(consumer)

    async def unsubscribe(self, subscription: Subscription) -> None:
        for consumer in [c for c in self._consumers if c.sub is subscription]:
            self._consumers.remove(consumer)
            await consumer.stop_consuming()
            await consumer.close()

    def track(self, task: asyncio.Task[Any]) -> None:
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)


class _QueueConsumer:
    """One subscription: its topology, its channel (consuming, and republishing to the retry
    and dead-letter queues with confirms), and the supervisor that keeps the consumer alive."""

    def __init__(self, bus: RabbitBus, connection: AbstractRobustConnection, sub: Subscription):
        self.bus = bus
        self.connection = connection
        self.sub = sub
        self.channel: AbstractRobustChannel | None = None
        self.queue: aio_pika.abc.AbstractQueue | None = None
        self.consumer_tag: str | None = None
        self._consuming = False
        self._stopping = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._retry_queues = (
            {delay: f"{sub.queue}.retry.{round(delay * 1000)}" for delay in set(sub.retry.delays)}
            if sub.durable
            else {}
        )
        # A live queue belongs to this process alone: its name says whose it is.
        self.queue_name = (
            sub.queue
            if sub.durable
            else f"{sub.queue}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        )

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self._consume()
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"consumer-supervisor-{self.sub.queue}"
        )

    def is_consuming(self) -> bool:
        return self._consuming and self.channel is not None and not self.channel.is_closed

    def wake(self) -> None:
        self._wake.set()

    def stopping(self) -> bool:
        """Read anew each time: another task sets it (stop_consuming) while the supervisor waits."""
        return self._stopping

    async def stop_consuming(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        if self.queue is not None and self.consumer_tag is not None and self.is_consuming():
            with contextlib.suppress(Exception):
                await self.queue.cancel(self.consumer_tag, timeout=5)
        self._consuming = False

    async def close(self) -> None:
        if self.channel is not None and not self.channel.is_closed:
            with contextlib.suppress(Exception):
                await self.channel.close()

    # -- (re)subscribing -------------------------------------------------------------------
    async def _open_channel(self) -> AbstractRobustChannel:
        channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        channel.close_callbacks.add(self._on_channel_closed)
        channel.reopen_callbacks.add(lambda _sender: self.wake())
        return channel

    async def _declare(self, channel: AbstractRobustChannel) -> aio_pika.abc.AbstractQueue:
        # robust=False throughout: the supervisor redeclares and re-consumes, not aio-pika.
        sub = self.sub
        exchange = await channel.declare_exchange(
            self.bus.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True, robust=False
        )
        if not sub.durable:
            # Classic, exclusive, auto-deleted: gone with this connection; declared anew (empty)
            # after a reconnect. Capped, so a stuck process can't make the broker hoard events.
            live = await channel.declare_queue(
                self.queue_name,
                durable=False,
                exclusive=True,
                auto_delete=True,
                arguments={"x-max-length": 100_000, "x-overflow": "drop-head"},
                robust=False,
            )
            for pattern in sub.patterns:
                await live.bind(exchange, routing_key=pattern, robust=False)
            return live
        queue = await declare_service_queue(channel, exchange, sub.service, sub.patterns)
        for delay, name in self._retry_queues.items():
            await channel.declare_queue(
                name,
                durable=True,
                arguments=_queue_arguments(
                    **_dead_letter_to(sub.queue), **{"x-message-ttl": round(delay * 1000)}
                ),
                robust=False,
            )
        return queue

    async def _consume(self) -> None:
        async with self._lock:
            if self.channel is None or self.channel.is_closed:
                self.channel = await self._open_channel()
            await self.channel.set_qos(prefetch_count=self.sub.prefetch)
            self.queue = await self._declare(self.channel)
            underlay = await self.channel.get_underlay_channel()
            if self.consumer_tag not in _consumers_of(underlay):  # else a false alarm: keep it, add none
                underlay.on_consumer_cancel_callbacks.add(self._on_cancelled_by_broker)
                tag = f"{self.queue_name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
                # A channel of a robust connection declares robust queues, whose consume takes it.
                self.consumer_tag = await self.queue.consume(
                    self._on_message,
                    consumer_tag=tag,
                    robust=False,  # type: ignore[call-arg]
                )
            self._consuming = True
            log.info("event_consumer_started", queue=self.sub.queue, patterns=list(self.sub.patterns))

    def _on_cancelled_by_broker(self, frame: Any) -> None:
        if frame.consumer_tag == self.consumer_tag:
            self._consuming = False
            log.warning("event_consumer_cancelled_by_broker", queue=self.sub.queue)
            self._wake.set()

    def _on_channel_closed(self, sender: object, exc: BaseException | None) -> None:
        if sender is not self.channel:
            return  # a channel this consumer has since replaced
        self._consuming = False
        if not self._stopping:
            log.warning(
                "event_consumer_channel_closed", queue=self.sub.queue, error=str(exc) if exc else None
            )
            self._wake.set()

    async def _still_consuming(self) -> bool:
        channel = self.channel
        if not self._consuming or channel is None or channel.is_closed:
            return False
        try:
            underlay = await asyncio.wait_for(channel.get_underlay_channel(), timeout=1)
        except Exception:
            return False
        return self.consumer_tag in _consumers_of(underlay)

    async def _supervise(self) -> None:
        """Re-consume whenever the consumer is gone while the connection is up. A closed channel
        gets one interval for aio-pika to reopen it before a fresh one replaces it."""
        channel_closed_since_tick = False
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.bus.watchdog_interval)
            self._wake.clear()
            if self.stopping():
                return
            if await self._still_consuming():
                channel_closed_since_tick = False
                continue
            self._consuming = False
            if not self.connection.connected.is_set():
                continue  # the robust connection is reconnecting; it wakes us when done
            if self.channel is not None and self.channel.is_closed and not channel_closed_since_tick:
                channel_closed_since_tick = True
                await asyncio.sleep(self.bus.reconnect_interval)
                self._wake.set()
                continue
            channel_closed_since_tick = False
            try:
                await self._consume()
                log.info("event_consumer_resubscribed", queue=self.sub.queue)
            except Exception as exc:
                log.warning("event_consumer_resubscribe_failed", queue=self.sub.queue, error=str(exc))
                await asyncio.sleep(self.bus.reconnect_interval)
                self._wake.set()

    # -- messages --------------------------------------------------------------------------
    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.bus.track(task)
        attempt = _attempt_of(message)
        with bound(
            event_id=message.message_id, event_type=message.type, correlation_id=message.correlation_id
        ):
            if not self.sub.durable:
                await self._on_live_message(message)
                return
            try:
                event = Event.from_json(message.body)
            except EventParseError as exc:
                await self._dead_letter(message, "unparseable", exc, attempt)
                return
            try:
                await self.sub.handler(event)
            except PermanentEventError as exc:
                await self._dead_letter(message, "permanent_error", exc, attempt)
                return
            except Exception as exc:
                delay = self.sub.retry.delay_after(attempt)
                if delay is None:
                    await self._dead_letter(message, "attempts_exhausted", exc, attempt)
                else:
                    await self._retry(message, attempt, delay, exc)
                return
            await self._ack(message)

    async def _on_live_message(self, message: AbstractIncomingMessage) -> None:
        try:
            await self.sub.handler(Event.from_json(message.body))
        except Exception as exc:  # best effort: a live queue has no retries
            log.warning(
                "live_event_failed", queue=self.queue_name, error=str(exc), error_type=type(exc).__name__
            )
        await self._ack(message)

    async def _ack(self, message: AbstractIncomingMessage) -> None:
        try:
            await message.ack()
        except Exception as exc:
            # The channel it came on is gone; the broker delivers it again and the inbox drops
            # the duplicate.
            log.warning("event_ack_failed", queue=self.sub.queue, error=str(exc))

    async def _republish(self, message: AbstractIncomingMessage, queue: str, headers: dict[str, Any]) -> bool:
        """Publish a copy straight to `queue` and wait for the broker's confirm; the original
        is acked only after this returns True."""
        channel = self.channel
        copy = aio_pika.Message(
            body=message.body,
            content_type=message.content_type or "application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            app_id=message.app_id,
            headers=headers,
        )
        try:
            if channel is None:
                raise RuntimeError("no channel")
            await channel.default_exchange.publish(
                copy, routing_key=queue, mandatory=True, timeout=self.bus.publish_timeout
            )
            return True
        except Exception as exc:
            log.warning("event_republish_failed", queue=queue, error=str(exc), error_type=type(exc).__name__)
            # Left unacked; handed back so it is tried again (its delivery count guards a loop).
            await asyncio.sleep(1)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return False

    async def _retry(
        self, message: AbstractIncomingMessage, attempt: int, delay: float, exc: Exception
    ) -> None:
        headers = {
            **_carried_headers(message),
            ATTEMPT_HEADER: attempt + 1,
            ORIGINAL_ROUTING_KEY_HEADER: (message.headers or {}).get(ORIGINAL_ROUTING_KEY_HEADER)
            or message.routing_key,
        }
        if await self._republish(message, self._retry_queues[delay], headers):
            EVENTS_RETRIED.labels(self.sub.service, message.type or "unknown").inc()
            log.warning(
                "event_retry_scheduled",
                queue=self.sub.queue,
                attempt=attempt,
                delay=delay,
                error=str(exc)[:500],
                error_type=type(exc).__name__,
            )
            await self._ack(message)

    async def _dead_letter(
        self, message: AbstractIncomingMessage, reason: str, exc: Exception, attempt: int
    ) -> None:
        headers = {
            **_carried_headers(message),
            ATTEMPT_HEADER: attempt,
            ORIGINAL_ROUTING_KEY_HEADER: (message.headers or {}).get(ORIGINAL_ROUTING_KEY_HEADER)
            or message.routing_key,
            DEAD_REASON_HEADER: reason,
            DEAD_ERROR_HEADER: f"{type(exc).__name__}: {exc}"[:1000],
            DEAD_AT_HEADER: datetime.now(UTC).isoformat(),
        }
        if await self._republish(message, self.sub.dead_letter_queue, headers):
            EVENTS_DEAD_LETTERED.labels(self.sub.service, message.type or "unknown").inc()
            log.error(
                "event_dead_lettered",
                queue=self.sub.queue,
                reason=reason,
                attempts=attempt,
                error=str(exc)[:500],
                error_type=type(exc).__name__,
            )
            await self._ack(message)
