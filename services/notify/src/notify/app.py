"""The notify service's app factory: `uvicorn --factory notify.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from microblog_common.events import EventBus
from microblog_common.service import ServiceSpec, create_service_app
from notify.email.endpoints import router as email_router
from notify.email.sender import send_emails
from notify.events import handlers
from notify.markers.endpoints import router as markers_router
from notify.models import Base, messaging
from notify.notifications.endpoints import router as notifications_router
from notify.runtime import Runtime
from notify.settings import Settings
from notify.streaming.endpoints import router as streaming_router
from notify.streaming.lifecycle import start_streaming, stop_streaming

SPEC = ServiceSpec(
    name="notify",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    # The email preferences come before the notification routes, whose `/:id` would take them.
    routers=(email_router, notifications_router, markers_router, streaming_router),
    handlers=handlers,
    build_runtime=Runtime.build,
    lane_tasks=(send_emails,),
    on_startup=(start_streaming,),
    on_shutdown=(stop_streaming,),
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), bus=bus)
