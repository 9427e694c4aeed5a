"""The translate service's app factory: `uvicorn --factory translate.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from microblog_common.events import EventBus
from microblog_common.service import ServiceSpec, create_service_app
from translate.events import handlers
from translate.models import Base, messaging
from translate.runtime import Runtime, close_runtime
from translate.settings import Settings
from translate.translations.cleanup import expire_translations
from translate.translations.endpoints import router as translations_router

SPEC = ServiceSpec(
    name="translate",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=(translations_router,),
    handlers=handlers,
    build_runtime=Runtime.build,
    lane_tasks=(expire_translations,),
    on_shutdown=(close_runtime,),
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), bus=bus)
