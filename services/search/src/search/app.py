"""The search service's app factory: `uvicorn --factory search.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from microblog_common.events import EventBus
from microblog_common.service import ServiceSpec, create_service_app
from search.endpoints import router
from search.events import handlers
from search.indexing.indexer import keep_index_current
from search.models import Base, messaging
from search.runtime import Runtime, close_index, start_index
from search.settings import Settings

SPEC = ServiceSpec(
    name="search",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=(router,),
    handlers=handlers,
    build_runtime=Runtime.build,
    lane_tasks=(keep_index_current,),
    on_startup=(start_index,),
    on_shutdown=(close_index,),
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), bus=bus)
