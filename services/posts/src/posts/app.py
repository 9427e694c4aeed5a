"""The posts service's app factory: `uvicorn --factory posts.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from microblog_common.events import EventBus
from microblog_common.service import ServiceSpec, create_service_app
from posts.events import handlers
from posts.favourites.endpoints import router as favourites_router
from posts.models import Base, messaging
from posts.runtime import Runtime
from posts.scheduled.endpoints import router as scheduled_router
from posts.scheduled.publisher import ScheduledPublisher
from posts.settings import Settings
from posts.statuses.endpoints import router as statuses_router
from posts.timelines.endpoints import router as timelines_router


async def _start_background_work(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    runtime.languages.warm_up()
    app.state.publisher = ScheduledPublisher(app.state.db, runtime)
    app.state.publisher.start()


async def _stop_background_work(app: FastAPI) -> None:
    publisher = getattr(app.state, "publisher", None)
    if publisher is not None:
        await publisher.stop()
    app.state.runtime.accounts.close()


SPEC = ServiceSpec(
    name="posts",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=(statuses_router, favourites_router, timelines_router, scheduled_router),
    handlers=handlers,
    on_startup=(_start_background_work,),
    on_shutdown=(_stop_background_work,),
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(SPEC, settings, bus=bus)
    app.state.runtime = Runtime.build(settings)
    return app
