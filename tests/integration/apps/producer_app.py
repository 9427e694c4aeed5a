"""A tiny producing service for the reliability tests: `POST /emit` writes events through the
outbox in the request's transaction; the shared relay publishes them.

Run: `uvicorn --factory producer_app:create_app --app-dir tests/integration/apps` with DATABASE_URL,
RABBITMQ_URL, INTERNAL_SECRET and ENVIRONMENT=test. Its tables are made with `create_all` at start
(a test app has no migrations)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData, create_engine

from microblog_common.db import SessionDep
from microblog_common.events import MessagingTables, Outbox
from microblog_common.service import ServiceSpec, create_service_app
from microblog_common.settings import ServiceSettings

metadata = MetaData()
messaging = MessagingTables(metadata)
outbox = Outbox(messaging.outbox, producer="producer")
router = APIRouter()


class Settings(ServiceSettings):
    service_name: str = "producer"


@router.post("/emit")
def emit(session: SessionDep, count: int = 1, start: int = 0, fail_every: int = 0) -> dict:
    """`count` events numbered from `start`, in one transaction; with `fail_every=k`, every k-th
    one asks the consumer's handler to fail."""
    ids = []
    for n in range(start, start + count):
        data = {"n": n, "fail": bool(fail_every) and n % fail_every == 0}
        ids.append(str(outbox.add(session, "thing.happened", subject=n, data=data).id))
    return {"ids": ids}


SPEC = ServiceSpec(
    name="producer", metadata=metadata, messaging=messaging, migrations=Path(), routers=[router]
)


def create_app() -> FastAPI:
    settings = Settings()
    engine = create_engine(settings.database_url)
    metadata.create_all(engine)
    engine.dispose()
    return create_service_app(SPEC, settings)
