"""The translate service's app factory: `uvicorn --factory translate.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from microblog_common.events import EventBus
from microblog_common.service import ServiceSpec, create_service_app
from translate.events import handlers
from translate.models import Base, messaging
from translate.settings import Settings

SPEC = ServiceSpec(
    name="translate",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    handlers=handlers,
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), bus=bus)
