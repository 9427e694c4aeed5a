import pytest
from sqlalchemy import func, select

from microblog_common.events import Event, EventHandlers, InboxConsumer


def _effects(db, schema) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(schema.effects))


def _consumer(db, schema, fail: bool = False) -> InboxConsumer:
    handlers = EventHandlers()

    @handlers.on("thing.happened")
    def record(session, event):
        session.execute(schema.effects.insert().values(event_id=str(event.id), note=event.data["note"]))
        if fail:
            raise RuntimeError("handler failed after writing")

    return InboxConsumer(db, schema.messaging, handlers)


async def test_the_same_event_twice_has_its_effect_once(db, schema):
    consumer = _consumer(db, schema)
    event = Event(type="thing.happened", producer="p", subject="1", data={"note": "hi"})
    await consumer(event)
    await consumer(event)
    await consumer(Event.from_json(event.to_json()))
    assert _effects(db, schema) == 1


async def test_a_failed_handler_leaves_no_trace_so_a_retry_applies_it(db, schema):
    event = Event(type="thing.happened", producer="p", subject="1", data={"note": "hi"})
    with pytest.raises(RuntimeError):
        await _consumer(db, schema, fail=True)(event)
    assert _effects(db, schema) == 0
    await _consumer(db, schema)(event)
    assert _effects(db, schema) == 1


async def test_events_without_a_handler_are_recorded_and_ignored(db, schema):
    consumer = _consumer(db, schema)
    await consumer(Event(type="other.thing", producer="p", subject="1", data={"extra": True}))
    assert _effects(db, schema) == 0


def test_a_type_has_one_handler():
    handlers = EventHandlers()
    handlers.on("a.b")(lambda s, e: None)
    with pytest.raises(ValueError):
        handlers.on("a.b")(lambda s, e: None)


def test_envelopes_are_read_tolerantly():
    raw = (
        '{"id":"6f1c2e8a-1111-4222-8333-944455556666","type":"user.updated","version":3,'
        '"occurred_at":"2026-11-23T10:00:00Z","producer":"users","subject":"9","correlation_id":null,'
        '"data":{"id":"9","new_field":1},"unknown_envelope_field":"ignored"}'
    )
    event = Event.from_json(raw)
    assert event.version == 3 and event.data["id"] == "9"
