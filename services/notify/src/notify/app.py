"""The notify service's app factory: `uvicorn --factory notify.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from microblog_common.events import EventBus
from microblog_common.service import ServiceSpec, create_service_app
from notify.events import handlers
from notify.models import Base, messaging
from notify.settings import Settings

SPEC = ServiceSpec(
    name="notify",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    handlers=handlers,
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), bus=bus)
