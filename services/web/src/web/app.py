"""The web service's app factory: `uvicorn --factory web.app:create_app`."""

from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.orm import Session

from microblog_common.events import EventBus
from microblog_common.lane import EventLane, periodic
from microblog_common.service import ServiceSpec, create_service_app
from microblog_common.settings import ServiceSettings
from web.assets import router as assets_router
from web.errors import install_page_errors
from web.models import Base, messaging
from web.pages.accounts import router as accounts_router
from web.pages.auth import router as auth_router
from web.pages.compose import router as compose_router
from web.pages.notifications import router as notifications_router
from web.pages.scheduled import router as scheduled_router
from web.pages.search import router as search_router
from web.pages.settings import router as settings_router
from web.pages.statuses import router as statuses_router
from web.pages.stream import router as stream_router
from web.pages.timelines import router as timelines_router
from web.runtime import Runtime
from web.security import SecurityHeadersMiddleware
from web.sessions.service import delete_expired
from web.settings import Settings


def _delete_expired_sessions(lane: EventLane, session: Session) -> int:
    return delete_expired(session, datetime.now(UTC))


def _cleanup_interval(settings: ServiceSettings) -> float:
    assert isinstance(settings, Settings)
    return settings.session_cleanup_interval_seconds


async def _close_api(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    await runtime.api.close()


SPEC = ServiceSpec(
    name="web",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    # The account routes last: `/@username/...` must not shadow the others.
    routers=(
        assets_router,
        auth_router,
        timelines_router,
        compose_router,
        statuses_router,
        search_router,
        notifications_router,
        scheduled_router,
        settings_router,
        stream_router,
        accounts_router,
    ),
    build_runtime=Runtime.build,
    lane_tasks=(periodic("delete_expired_sessions", _cleanup_interval, _delete_expired_sessions),),
    on_shutdown=(_close_api,),
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(SPEC, settings, bus=bus)
    install_page_errors(app)
    app.add_middleware(SecurityHeadersMiddleware, image_origins=settings.image_origins)
    return app
