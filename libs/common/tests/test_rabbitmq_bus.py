"""The RabbitMQ bus against a real broker (one vhost per test): confirmed publishing, consuming,
retries through the delay queues, dead-lettering, and re-subscribing after the broker drops the
consumer or the connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote, unquote, urlsplit

import aio_pika
import pytest

from microblog_common.events.bus import PermanentEventError, RetryPolicy, Subscription
from microblog_common.events.envelope import Event
from microblog_common.events.rabbitmq import (
    ATTEMPT_HEADER,
    DEAD_REASON_HEADER,
    ORIGINAL_ROUTING_KEY_HEADER,
    RabbitBus,
    redact_url,
)

pytestmark = pytest.mark.rabbitmq

SERVICE = "testsvc"
QUEUE = f"{SERVICE}.events"
DEAD = f"{SERVICE}.events.dead"
FAST_RETRY = RetryPolicy((0.2, 0.4))


async def eventually(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def make_event(type_: str = "thing.happened", n: int = 0) -> Event:
    return Event(type=type_, producer="tests", subject=str(n), correlation_id=f"corr-{n}", data={"n": n})


class Recorder:
    """A handler that records the events it saw and fails as told."""

    def __init__(
        self, fail: Callable[[Event, int], Exception | None] = lambda e, calls: None, delay: float = 0
    ):
        self.calls: dict[str, int] = {}
        self.handled: list[Event] = []
        self.fail = fail
        self.delay = delay

    async def __call__(self, event: Event) -> None:
        key = str(event.id)
        self.calls[key] = self.calls.get(key, 0) + 1
        if self.delay:
            await asyncio.sleep(self.delay)
        error = self.fail(event, self.calls[key])
        if error is not None:
            raise error
        self.handled.append(event)


@pytest.fixture
async def bus(rabbitmq_url: str) -> AsyncIterator[RabbitBus]:
    bus = RabbitBus(
        rabbitmq_url, connection_name="bus-under-test", watchdog_interval=0.5, reconnect_interval=0.5
    )
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture
async def connection(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    """A plain connection of the test's own, to look into queues and publish raw messages."""
    async with await aio_pika.connect(rabbitmq_url) as connection:
        yield connection


@pytest.fixture
async def channel(connection: aio_pika.abc.AbstractConnection) -> aio_pika.abc.AbstractChannel:
    return await connection.channel()


async def consumers_on(connection: aio_pika.abc.AbstractConnection, queue: str) -> int:
    try:
        async with connection.channel() as probe:  # a failed passive declare closes its channel
            return (await probe.declare_queue(queue, passive=True)).declaration_result.consumer_count
    except aio_pika.exceptions.ChannelNotFoundEntity:
        return 0


async def subscribe(
    bus: RabbitBus, handler: Callable[[Event], Awaitable[None]], patterns=("thing.#",)
) -> None:
    await bus.subscribe(
        Subscription(service=SERVICE, patterns=tuple(patterns), handler=handler, retry=FAST_RETRY)
    )


async def drain(
    channel: aio_pika.abc.AbstractChannel, queue_name: str
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    queue = await channel.declare_queue(queue_name, passive=True)
    messages = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        messages.append(message)
    return messages


async def test_publish_returns_once_confirmed_with_the_envelope_as_a_persistent_message(bus, channel):
    exchange = await channel.declare_exchange("microblog.events", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue("observer", durable=True)
    await queue.bind(exchange, "thing.*")
    events = [make_event(n=i) for i in range(50)]

    await bus.publish(events)

    # Confirmed means enqueued: every message is there the moment publish returns.
    declared = await channel.declare_queue("observer", passive=True)
    assert declared.declaration_result.message_count == 50
    messages = await drain(channel, "observer")
    by_id = {m.message_id: m for m in messages}
    first = by_id[str(events[0].id)]
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert first.content_type == "application/json"
    assert first.type == "thing.happened" and first.routing_key == "thing.happened"
    assert first.correlation_id == "corr-0" and first.headers["correlation_id"] == "corr-0"
    assert Event.from_json(first.body) == events[0]


async def test_an_event_nobody_consumes_is_still_confirmed(bus):
    await bus.publish([make_event("nobody.listens")])


async def test_roundtrip_and_health(bus):
    recorder = Recorder()
    await subscribe(bus, recorder)
    assert bus.is_healthy()
    events = [make_event(n=i) for i in range(20)]

    await bus.publish(events)

    await eventually(lambda: len(recorder.handled) == 20, what="20 events handled")
    assert {e.id for e in recorder.handled} == {e.id for e in events}
    assert recorder.handled[0].correlation_id is not None


async def test_a_failing_handler_is_retried_with_backoff_then_succeeds(bus, channel):
    recorder = Recorder(fail=lambda e, calls: RuntimeError("flaky") if calls < 3 else None)
    await subscribe(bus, recorder)
    event = make_event()
    started = time.monotonic()

    await bus.publish([event])

    await eventually(lambda: len(recorder.handled) == 1, what="the event handled on its third attempt")
    assert recorder.calls[str(event.id)] == 3
    assert time.monotonic() - started >= 0.2 + 0.4  # the two back-off delays
    assert await drain(channel, DEAD) == []


async def test_always_failing_goes_to_the_dead_letter_queue_after_max_attempts_and_others_flow(bus, channel):
    poison = make_event(n=0)
    recorder = Recorder(fail=lambda e, calls: RuntimeError("always") if e.id == poison.id else None)
    await subscribe(bus, recorder)
    behind = [make_event(n=i) for i in range(1, 11)]

    await bus.publish([poison, *behind])

    await eventually(lambda: len(recorder.handled) == 10, what="the events behind the poison one")
    dead: list = []

    async def poll_dead() -> None:
        deadline = time.monotonic() + 15
        while not dead and time.monotonic() < deadline:
            dead.extend(await drain(channel, DEAD))
            await asyncio.sleep(0.1)

    await poll_dead()
    assert [m.message_id for m in dead] == [str(poison.id)]
    assert recorder.calls[str(poison.id)] == FAST_RETRY.max_attempts == 3
    headers = dead[0].headers
    assert headers[DEAD_REASON_HEADER] == "attempts_exhausted"
    assert headers[ATTEMPT_HEADER] == 3
    assert headers[ORIGINAL_ROUTING_KEY_HEADER] == "thing.happened"
    assert Event.from_json(dead[0].body) == poison
    await asyncio.sleep(0.6)  # longer than any retry delay: nothing comes back
    assert recorder.calls[str(poison.id)] == 3


async def test_permanent_errors_are_dead_lettered_at_once(bus, channel):
    recorder = Recorder(fail=lambda e, calls: PermanentEventError("cannot ever work"))
    await subscribe(bus, recorder)
    event = make_event()

    await bus.publish([event])

    dead: list = []
    deadline = time.monotonic() + 10
    while not dead and time.monotonic() < deadline:
        dead = await drain(channel, DEAD)
        await asyncio.sleep(0.05)
    assert [m.headers[DEAD_REASON_HEADER] for m in dead] == ["permanent_error"]
    assert recorder.calls[str(event.id)] == 1


async def test_an_unparseable_message_is_dead_lettered_at_once(bus, channel):
    recorder = Recorder()
    await subscribe(bus, recorder)
    exchange = await channel.declare_exchange("microblog.events", aio_pika.ExchangeType.TOPIC, durable=True)
    await exchange.publish(aio_pika.Message(b"{not an event", message_id="junk"), routing_key="thing.broken")
    good = make_event()
    await bus.publish([good])

    dead: list = []
    deadline = time.monotonic() + 10
    while not dead and time.monotonic() < deadline:
        dead = await drain(channel, DEAD)
        await asyncio.sleep(0.05)
    assert [(m.message_id, m.headers[DEAD_REASON_HEADER], m.headers[ATTEMPT_HEADER]) for m in dead] == [
        ("junk", "unparseable", 1)
    ]
    assert dead[0].body == b"{not an event"
    await eventually(lambda: [e.id for e in recorder.handled] == [good.id], what="the good event")


async def test_resubscribes_after_the_broker_cancels_the_consumer(bus, connection, channel):
    recorder = Recorder()
    await subscribe(bus, recorder)
    await bus.publish([make_event(n=1)])
    await eventually(lambda: len(recorder.handled) == 1)

    # Deleting the queue makes the broker send basic.cancel to its consumer (and drops the
    # queue's bindings), so only a re-declaring re-subscribe brings the next event in.
    await channel.queue_delete(QUEUE)

    deadline = time.monotonic() + 10
    while await consumers_on(connection, QUEUE) != 1:
        assert time.monotonic() < deadline, "the consumer never came back"
        await asyncio.sleep(0.1)
    assert bus.is_healthy()

    await bus.publish([make_event(n=2)])
    await eventually(lambda: len(recorder.handled) == 2, what="an event after re-subscribing")


async def test_recovers_after_the_broker_closes_the_connection(
    bus, connection, rabbitmq_server, rabbitmq_url
):
    recorder = Recorder()
    await subscribe(bus, recorder)
    vhost = quote(unquote(urlsplit(rabbitmq_url).path.lstrip("/")), safe="")

    def bus_connections() -> list[str]:
        with rabbitmq_server.management() as api:
            listed = api.get(f"/api/vhosts/{vhost}/connections").json()
        return [
            c["name"] for c in listed if c["client_properties"].get("connection_name") == "bus-under-test"
        ]

    async def wait_for_connection(unlike: list[str]) -> list[str]:
        # The management API lists a connection once its first statistics arrive (seconds).
        deadline = time.monotonic() + 20
        while not (names := [n for n in await asyncio.to_thread(bus_connections) if n not in unlike]):
            assert time.monotonic() < deadline, "no new connection of the bus showed in the management API"
            await asyncio.sleep(0.3)
        return names

    first = await wait_for_connection(unlike=[])
    with rabbitmq_server.management() as api:
        for name in first:
            api.delete(f"/api/connections/{quote(name, safe='')}").raise_for_status()

    await wait_for_connection(unlike=first)
    await eventually(bus.is_healthy, timeout=15, what="the bus to report itself healthy again")
    await bus.publish([make_event(n=3)])
    await eventually(lambda: len(recorder.handled) == 1, what="an event after reconnecting")
    assert await consumers_on(connection, QUEUE) == 1


async def test_close_waits_for_the_handler_in_flight_and_acks_it(rabbitmq_url, channel):
    bus = RabbitBus(rabbitmq_url)
    await bus.start()
    recorder = Recorder(delay=0.5)
    await subscribe(bus, recorder)
    await bus.publish([make_event()])
    await eventually(lambda: len(recorder.calls) == 1, what="the handler to start")

    await bus.close()

    assert len(recorder.handled) == 1
    queue = await channel.declare_queue(QUEUE, passive=True)
    assert queue.declaration_result.message_count == 0  # acked before the channel closed
    assert not bus.is_healthy()


def test_logged_urls_carry_no_credentials():
    assert redact_url("amqp://user:s3cret@broker:5672/vh") == "amqp://broker:5672/vh"


async def test_events_published_before_a_consumer_first_started_wait_for_it(rabbitmq_url):
    """The topology is declared by whoever connects first, so nothing is unroutable."""
    producer = RabbitBus(rabbitmq_url, topology={"late": ("thing.happened",)})
    await producer.start()
    try:
        await producer.publish([Event(type="thing.happened", producer="p", subject="1", data={"n": 1})])
    finally:
        await producer.close()
    received: list[Event] = []

    async def handler(event: Event) -> None:
        received.append(event)

    consumer = RabbitBus(rabbitmq_url)
    await consumer.start()
    try:
        await consumer.subscribe(Subscription("late", ("thing.happened",), handler, RetryPolicy((0.2,))))
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.05)
        assert [e.data["n"] for e in received] == [1]
    finally:
        await consumer.close()
