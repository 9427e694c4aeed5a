"""The delivery guarantees of ARCHITECTURE.md, shown over real PostgreSQL and RabbitMQ with the
producer and the consumer as separate OS processes (the test apps in `apps/`):

- an event written through the outbox in one process reaches the handler in the other;
- an event delivered twice has its effect once;
- nothing is lost or doubled when the broker is SIGKILLed and restarted mid-stream, nor when the
  consumer process is;
- a handler that always fails parks its messages in the dead-letter queue after its retries,
  while the messages behind them keep flowing.

The consumer's handler writes one `effects` row per handling with no uniqueness of its own, so
"exactly once" is: as many rows as events, and as many distinct event ids as rows.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime

import aio_pika
import pytest
from sqlalchemy import Engine, text

from microblog_common.events import Event
from microblog_common.events.rabbitmq import ATTEMPT_HEADER, DEAD_AT_HEADER, DEAD_REASON_HEADER, RabbitBus

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

DEAD_LETTER_QUEUE = "consumer.events.dead"


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def scalar(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def effect_counts(engine: Engine) -> tuple[int, int]:
    """(rows, distinct events) in the consumer's effects table."""
    with engine.connect() as conn:
        return tuple(conn.execute(text("SELECT count(*), count(DISTINCT event_id) FROM effects")).one())


def effects(engine: Engine) -> int:
    return scalar(engine, "SELECT count(*) FROM effects")


def unpublished(engine: Engine) -> int:
    return scalar(engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL")


def dead_letters(rabbitmq_url: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    async def read() -> list:
        async with await aio_pika.connect(rabbitmq_url) as connection:
            queue = await (await connection.channel()).declare_queue(DEAD_LETTER_QUEUE, passive=True)
            messages = []
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                messages.append(message)
            return messages

    return asyncio.run(read())


def emit_in_background(producer, batches: int, size: int, pause: float, start: int = 0) -> threading.Thread:
    """Writes `batches * size` events through the producer, one transaction per batch."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for b in range(batches):
                producer.post("/emit", count=size, start=start + b * size)
                time.sleep(pause)
        except BaseException as exc:  # surfaced by join_emitter
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def join_emitter(thread: threading.Thread, timeout: float = 60) -> None:
    thread.join(timeout)
    assert not thread.is_alive(), "the producer requests did not finish"
    assert not thread.errors, thread.errors  # type: ignore[attr-defined]


def test_an_event_written_through_the_outbox_reaches_the_handler_in_another_process(
    make_database, launch_service
):
    producer_url, producer_db = make_database("producer")
    consumer_url, consumer_db = make_database("consumer")
    consumer = launch_service("consumer_app", consumer_url)
    producer = launch_service("producer_app", producer_url)
    consumer.wait_ready()
    producer.wait_ready()

    [event_id] = producer.post("/emit", count=1, start=7)["ids"]

    wait_until(lambda: effects(consumer_db) == 1, 20, "the consumer's handler to run")
    with consumer_db.connect() as conn:
        row = conn.execute(text("SELECT event_id, n, correlation_id FROM effects")).one()
    assert (row.event_id, row.n) == (event_id, 7)
    assert row.correlation_id  # the request's id, carried through the outbox into the handler
    wait_until(lambda: unpublished(producer_db) == 0, 10, "the outbox row to be marked published")


def test_the_same_event_delivered_twice_has_its_effect_once(make_database, launch_service, rabbitmq_url):
    consumer_url, consumer_db = make_database("consumer")
    consumer = launch_service("consumer_app", consumer_url).wait_ready()
    event = Event(type="thing.happened", producer="tests", subject="1", data={"n": 1})

    async def publish_twice() -> None:
        bus = RabbitBus(rabbitmq_url)
        await bus.start()
        try:
            await bus.publish([event])
            await bus.publish([event])
        finally:
            await bus.close()

    asyncio.run(publish_twice())

    def duplicate_dropped() -> bool:
        for line in consumer.log_text().splitlines():
            if '"event_duplicate_dropped"' in line and json.loads(line).get("event_id") == str(event.id):
                return True
        return False

    wait_until(duplicate_dropped, 20, "the second delivery to be seen and dropped")
    assert effect_counts(consumer_db) == (1, 1)


def test_broker_killed_and_restarted_mid_stream_loses_and_doubles_nothing(
    make_database, launch_service, rabbitmq_server
):
    total = 1000
    producer_url, producer_db = make_database("producer")
    consumer_url, consumer_db = make_database("consumer")
    consumer = launch_service("consumer_app", consumer_url)
    producer = launch_service("producer_app", producer_url)
    consumer.wait_ready()
    producer.wait_ready()

    emitter = emit_in_background(producer, batches=40, size=total // 40, pause=0.1)
    wait_until(lambda: effects(consumer_db) >= 100, 30, "the first events to flow")
    rabbitmq_server.kill()
    handled_at_kill = effects(consumer_db)
    wait_until(
        lambda: consumer.broker_state() == "not connected", 10, "the consumer to report the broker gone"
    )
    assert consumer.ready_status() == 200  # its API still serves: readiness is its database
    rabbitmq_server.restart()
    join_emitter(emitter)

    wait_until(lambda: effects(consumer_db) >= total, 120, f"all {total} events handled")
    wait_until(lambda: unpublished(producer_db) == 0, 30, "the outbox to drain")
    wait_until(lambda: consumer.broker_state() == "ok", 30, "the consumer to report the broker back")
    time.sleep(1)  # room for a late redelivery to show up as a second effect
    assert handled_at_kill < total, "the broker died after the stream ended: nothing was tested"
    assert effect_counts(consumer_db) == (total, total)


def test_consumer_killed_mid_stream_and_restarted_loses_and_doubles_nothing(make_database, launch_service):
    first, second = 300, 200
    producer_url, producer_db = make_database("producer")
    consumer_url, consumer_db = make_database("consumer")
    # Slowed down, so that the crash lands with deliveries in flight and many still queued.
    slow = {"HANDLER_SLEEP_SECONDS": "0.01", "CONSUMER_PREFETCH": "16"}
    consumer = launch_service("consumer_app", consumer_url, **slow)
    producer = launch_service("producer_app", producer_url)
    consumer.wait_ready()
    producer.wait_ready()

    emitter = emit_in_background(producer, batches=6, size=first // 6, pause=0)
    wait_until(lambda: effects(consumer_db) >= 30, 30, "the first events to flow")
    consumer.kill()
    handled_at_kill = effects(consumer_db)
    join_emitter(emitter)
    # More arrive while no consumer runs: they wait in its durable queue.
    join_emitter(emit_in_background(producer, batches=4, size=second // 4, pause=0, start=first))
    wait_until(lambda: unpublished(producer_db) == 0, 30, "the outbox to drain")
    launch_service("consumer_app", consumer_url, **slow).wait_ready()

    wait_until(lambda: effects(consumer_db) >= first + second, 60, "every event handled")
    time.sleep(1)  # room for a late redelivery to show up as a second effect
    assert handled_at_kill < first, "the consumer died after the stream ended: nothing was tested"
    assert effect_counts(consumer_db) == (first + second, first + second)


def test_always_failing_events_end_in_the_dead_letter_queue_and_the_rest_flow(
    make_database, launch_service, rabbitmq_url
):
    producer_url, _ = make_database("producer")
    consumer_url, consumer_db = make_database("consumer")
    consumer = launch_service("consumer_app", consumer_url)
    producer = launch_service("producer_app", producer_url)
    consumer.wait_ready()
    producer.wait_ready()

    ids = producer.post("/emit", count=30, fail_every=10)["ids"]  # events 0, 10, 20 always fail
    failing = {ids[n] for n in (0, 10, 20)}

    wait_until(lambda: effects(consumer_db) >= 27, 30, "the 27 good events handled")
    dead: list = []

    def collect() -> bool:
        dead.extend(dead_letters(rabbitmq_url))
        return len(dead) >= 3

    wait_until(collect, 30, "the 3 failing events in the dead-letter queue")
    assert {m.message_id for m in dead} == failing
    assert all(m.headers[DEAD_REASON_HEADER] == "attempts_exhausted" for m in dead)
    assert all(m.headers[ATTEMPT_HEADER] == 3 for m in dead)  # max attempts with delays (0.2, 0.4)
    with consumer_db.connect() as conn:
        tries = dict(conn.execute(text("SELECT event_id, count(*) FROM attempts GROUP BY event_id")).all())
        handled = dict(conn.execute(text("SELECT n, handled_at FROM effects")).all())
    assert {i: tries[i] for i in failing} == dict.fromkeys(failing, 3)
    assert all(tries[i] == 1 for i in ids if i not in failing)
    assert effect_counts(consumer_db) == (27, 27)
    # Event 1 was right behind event 0, and was handled long before 0 ran out of retries.
    first_dead_at = datetime.fromisoformat(
        next(m.headers[DEAD_AT_HEADER] for m in dead if m.message_id == ids[0])
    )
    assert handled[1] < first_dead_at
