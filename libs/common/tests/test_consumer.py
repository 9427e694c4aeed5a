import pytest
from sqlalchemy import func, select

from microblog_common.contracts.aggregates import AGGREGATE_OF
from microblog_common.events import Event, EventHandlers, InboxConsumer
from microblog_common.events.versions import applied_version, claim_version


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


# -- the version rule (events/versions.py) -------------------------------------------------


def _notes(db, schema) -> list[str]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(schema.effects.c.note).order_by(schema.effects.c.id)))


def _versioned_consumer(db, schema) -> InboxConsumer:
    handlers = EventHandlers()

    @handlers.on("thing.changed")
    @handlers.on("thing.gone")
    def record(session, event):
        session.execute(schema.effects.insert().values(event_id=str(event.id), note=event.data["note"]))

    aggregates = {"thing.changed": "thing", "thing.gone": "thing"}
    return InboxConsumer(db, schema.messaging, handlers, aggregates=aggregates)


def _change(subject: str, version: int, note: str, type: str = "thing.changed") -> Event:
    return Event(type=type, producer="p", subject=subject, version=version, data={"note": note})


async def test_an_event_older_than_what_was_applied_is_dropped_before_its_handler(db, schema):
    consumer = _versioned_consumer(db, schema)
    for event in (
        _change("a", 1, "a1"),
        _change("a", 3, "a3"),
        _change("a", 2, "a2 late"),  # older than a3: dropped
        _change("a", 3, "a3 again, another event id"),  # not newer: dropped
        _change("b", 1, "b1"),  # another aggregate has its own versions
        _change("a", 4, "a deleted", type="thing.gone"),  # the types of one aggregate share them
        _change("a", 3, "a3 after the delete"),
    ):
        await consumer(event)
    assert _notes(db, schema) == ["a1", "a3", "b1", "a deleted"]


async def test_an_event_older_than_a_claim_made_outside_the_consumer_is_dropped(db, schema):
    """A replica written from a synchronous read (not an event) claims the version the same way."""
    with db.unit_of_work() as session:
        assert claim_version(session, schema.messaging.applied_versions, "thing", "a", 5)
        assert not claim_version(session, schema.messaging.applied_versions, "thing", "a", 5)
    await _versioned_consumer(db, schema)(_change("a", 4, "a4"))
    await _versioned_consumer(db, schema)(_change("a", 6, "a6"))
    assert _notes(db, schema) == ["a6"]
    with db.unit_of_work() as session:
        assert applied_version(session, schema.messaging.applied_versions, "thing", "a") == 6


async def test_unversioned_types_always_reach_their_handler(db, schema):
    consumer = _consumer(db, schema)  # "thing.happened" is not in any aggregate table
    for _ in range(2):
        await consumer(Event(type="thing.happened", producer="p", subject="1", version=1, data={"note": "x"}))
    assert _effects(db, schema) == 2


def test_every_versioned_contract_type_names_its_aggregate():
    """Producers' event types and the aggregates the shared rule keeps versions of."""
    assert AGGREGATE_OF == {
        "user.registered": "account", "user.updated": "account", "user.deleted": "account",
        "user.followed": "follow", "user.unfollowed": "follow",
        "post.published": "status", "post.updated": "status", "post.deleted": "status",
    }  # fmt: skip
