import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from microblog_common.events import Event, EventBus, Outbox, OutboxRelay
from microblog_common.events.bus import Subscription
from microblog_common.logging import bound


class RecordingBus(EventBus):
    """Stands in for the broker on the publishing side only: records what was confirmed."""

    def __init__(self, fail_times: int = 0, delay: float = 0.0):
        self.published: list[Event] = []
        self.fail_times = fail_times
        self.delay = delay

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def is_healthy(self) -> bool:
        return True

    async def subscribe(self, subscription: Subscription) -> None: ...

    async def unsubscribe(self, subscription: Subscription) -> None: ...

    async def publish(self, events: Sequence[Event]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("broker unreachable")
        self.published.extend(events)


def _unpublished(db, schema) -> int:
    t = schema.messaging.outbox
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(t).where(t.c.published_at.is_(None)))


def test_event_is_written_in_the_callers_transaction(db, schema):
    outbox = Outbox(schema.messaging.outbox, producer="test")
    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        outbox.add(s, "thing.happened", subject=1, data={"n": 1})
        raise RuntimeError("the state change failed")
    assert _unpublished(db, schema) == 0
    with db.unit_of_work() as s:
        outbox.add(s, "thing.happened", subject=1, data={"n": 1})
    assert _unpublished(db, schema) == 1


def test_events_carry_the_correlation_id_of_the_request(db, schema):
    outbox = Outbox(schema.messaging.outbox, producer="test")
    with bound(request_id="req-1", correlation_id="corr-9"), db.unit_of_work() as s:
        event = outbox.add(s, "thing.happened", subject=5, data={})
    assert event.correlation_id == "corr-9" and event.producer == "test" and event.subject == "5"


async def test_relay_publishes_in_order_and_marks_rows(db, schema):
    outbox = Outbox(schema.messaging.outbox, producer="test")
    with db.unit_of_work() as s:
        for n in range(250):
            outbox.add(s, "thing.happened", subject=n, data={"n": n})
    bus = RecordingBus()
    relay = OutboxRelay(db, schema.messaging.outbox, bus, batch_size=100)
    while await relay.publish_pending():
        pass
    assert [e.data["n"] for e in bus.published] == list(range(250))
    assert _unpublished(db, schema) == 0


async def test_relay_keeps_unconfirmed_events_and_retries(db, schema):
    outbox = Outbox(schema.messaging.outbox, producer="test")
    with db.unit_of_work() as s:
        outbox.add(s, "thing.happened", subject=1, data={})
    bus = RecordingBus(fail_times=1)
    relay = OutboxRelay(db, schema.messaging.outbox, bus)
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    assert _unpublished(db, schema) == 1
    t = schema.messaging.outbox
    with db.unit_of_work() as s:
        row = s.execute(select(t.c.attempts, t.c.last_error, t.c.locked_until)).one()
    assert row.attempts == 1 and "unreachable" in row.last_error and row.locked_until is None
    assert await relay.publish_pending() == 1
    assert len(bus.published) == 1 and _unpublished(db, schema) == 0


async def test_running_relay_is_woken_by_a_commit(db, schema):
    outbox = Outbox(schema.messaging.outbox, producer="test")
    bus = RecordingBus()
    relay = OutboxRelay(db, schema.messaging.outbox, bus, poll_interval=30)
    relay.start()
    try:
        await asyncio.sleep(0.1)
        with db.unit_of_work() as s:
            outbox.add(s, "thing.happened", subject=1, data={})
        for _ in range(100):
            if bus.published:
                break
            await asyncio.sleep(0.02)
        assert len(bus.published) == 1  # long before the 30 s poll
    finally:
        await relay.stop()


async def test_an_expired_lease_is_claimed_again(db, schema):
    """A relay that died after claiming a batch must not strand it."""
    outbox = Outbox(schema.messaging.outbox, producer="test")
    with db.unit_of_work() as s:
        outbox.add(s, "thing.happened", subject=1, data={})
    dead = OutboxRelay(db, schema.messaging.outbox, RecordingBus(), lease_seconds=0.2)
    assert len(dead._claim()) == 1  # claimed, then "crashes" before publishing
    bus = RecordingBus()
    alive = OutboxRelay(db, schema.messaging.outbox, bus)
    assert await alive.publish_pending() == 0  # still leased
    await asyncio.sleep(0.3)
    assert await alive.publish_pending() == 1 and len(bus.published) == 1


@pytest.mark.postgres
async def test_concurrent_relays_publish_each_event_once(pg_url, schema):
    from microblog_common.db import Database

    db = Database(pg_url)
    schema.metadata.create_all(db.engine)
    outbox = Outbox(schema.messaging.outbox, producer="test")
    with db.unit_of_work() as s:
        for n in range(400):
            outbox.add(s, "thing.happened", subject=n, data={"n": n})
    buses = [RecordingBus(delay=0.01) for _ in range(3)]
    relays = [OutboxRelay(db, schema.messaging.outbox, b, batch_size=25) for b in buses]

    async def drain(relay):
        while await relay.publish_pending():
            pass

    await asyncio.gather(*(drain(r) for r in relays))
    published = [e.data["n"] for b in buses for e in b.published]
    assert sorted(published) == list(range(400))  # every event once, none twice
    assert sum(1 for b in buses if b.published) >= 2  # the work was actually shared
    db.dispose()
