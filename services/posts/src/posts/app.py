"""The posts service's app factory: `uvicorn --factory posts.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from microblog_common.events import EventBus
from microblog_common.service import ServiceSpec, create_service_app
from posts.events import handlers
from posts.models import Base, messaging
from posts.settings import Settings

SPEC = ServiceSpec(
    name="posts",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    handlers=handlers,
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), bus=bus)
