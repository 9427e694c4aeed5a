"""The posts service's app factory: `uvicorn --factory posts.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from microblog_common.events import EventBus
from microblog_common.lane import EventLane
from microblog_common.service import ServiceSpec, create_service_app
from posts.events import handlers
from posts.export.endpoints import router as export_router
from posts.favourites.endpoints import router as favourites_router
from posts.models import Base, messaging
from posts.runtime import Runtime
from posts.scheduled.endpoints import router as scheduled_router
from posts.scheduled.publisher import publish_scheduled, purge_idempotency_keys
from posts.settings import Settings
from posts.statuses.endpoints import router as statuses_router
from posts.timelines.endpoints import router as timelines_router


async def _warm_up_language_detector(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    runtime.languages.warm_up()


async def _close_users_client(app: FastAPI) -> None:
    app.state.runtime.accounts.close()


async def _warm_up_detector_for_the_lane(lane: EventLane) -> None:
    """The lane publishes scheduled statuses, which detect their language: in a worker process
    the detector is built at start, not by the first due status."""
    runtime: Runtime = lane.runtime
    runtime.languages.warm_up()


SPEC = ServiceSpec(
    name="posts",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=(statuses_router, favourites_router, timelines_router, scheduled_router, export_router),
    handlers=handlers,
    build_runtime=Runtime.build,
    lane_tasks=(_warm_up_detector_for_the_lane, publish_scheduled, purge_idempotency_keys),
    on_startup=(_warm_up_language_detector,),
    on_shutdown=(_close_users_client,),
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), bus=bus)
