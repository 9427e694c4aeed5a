"""The service defaults end to end in one process: a request's state change and event commit
together, the relay publishes on the in-process bus, and another service's handler gets it with
the request's correlation id bound in its logs."""

import time
from pathlib import Path

import structlog
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from microblog_common.db import SessionDep
from microblog_common.errors import Conflict
from microblog_common.events import EventHandlers, MessagingTables, Outbox
from microblog_common.events.memory import MemoryBus
from microblog_common.service import ServiceSpec, create_service_app
from microblog_common.settings import ServiceSettings
from microblog_common.testing import TEST_SECRET, ServiceClient


def _producer_spec() -> tuple[ServiceSpec, Table]:
    metadata = MetaData()
    messaging = MessagingTables(metadata)
    notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("text", String(50)))
    outbox = Outbox(messaging.outbox, producer="producer")
    router = APIRouter()

    @router.post("/notes")
    def create(text: str, session: SessionDep):
        result = session.execute(notes.insert().values(text=text))
        outbox.add(session, "note.created", subject=result.inserted_primary_key[0], data={"text": text})
        if text == "reject":
            raise Conflict("rejected after writing")  # the unit of work must roll back both
        return {"ok": True}

    spec = ServiceSpec("producer", metadata, messaging, Path("unused"), routers=[router])
    return spec, notes


def _consumer_spec(seen: list) -> ServiceSpec:
    metadata = MetaData()
    messaging = MessagingTables(metadata)
    handlers = EventHandlers()

    @handlers.on("note.created")
    def on_note(session, event):
        seen.append(
            (
                event.data["text"],
                event.correlation_id,
                structlog.contextvars.get_contextvars().get("correlation_id"),
            )
        )

    return ServiceSpec("consumer", metadata, messaging, Path("unused"), handlers=handlers)


def _settings(name: str, tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(
        service_name=name,
        database_url=f"sqlite:///{tmp_path / name}.db",
        event_bus="memory",
        environment="test",
        internal_secret=TEST_SECRET,
        log_json=False,
    )


def test_request_event_reaches_another_service_with_its_correlation_id(tmp_path):
    bus = MemoryBus()
    seen: list = []
    producer_spec, notes = _producer_spec()
    consumer_spec = _consumer_spec(seen)
    producer = create_service_app(producer_spec, _settings("producer", tmp_path), bus=bus)
    consumer = create_service_app(consumer_spec, _settings("consumer", tmp_path), bus=bus)
    with TestClient(consumer) as c_raw, TestClient(producer) as p_raw:
        for spec, raw in ((producer_spec, p_raw), (consumer_spec, c_raw)):
            spec.metadata.create_all(raw.app.state.db.engine)
        p_raw.portal.call(bus.start)
        client = ServiceClient(p_raw)
        r = client.post("/notes", params={"text": "hello"}, headers={"X-Correlation-Id": "corr-42"})
        assert r.status_code == 200
        bad = client.post("/notes", params={"text": "reject"})
        assert bad.status_code == 409 and bad.json() == {"error": "rejected after writing"}
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert seen == [("hello", "corr-42", "corr-42")]
        with p_raw.app.state.db.unit_of_work() as s:
            assert s.scalar(select(func.count()).select_from(notes)) == 1  # the rejected write left nothing
            outbox = producer_spec.messaging.outbox
            assert s.scalar(select(func.count()).select_from(outbox)) == 1
        p_raw.portal.call(bus.close)
