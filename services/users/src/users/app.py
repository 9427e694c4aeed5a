"""The users service's app factory: `uvicorn --factory users.app:create_app`."""

from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from microblog_common.events import EventBus
from microblog_common.service import ServiceSpec, create_service_app
from users.accounts.endpoints import images as avatar_router
from users.accounts.endpoints import internal as internal_accounts_router
from users.accounts.endpoints import router as accounts_router
from users.events import handlers
from users.export.endpoints import router as export_router
from users.follows.endpoints import router as follows_router
from users.models import Base, messaging
from users.oauth.endpoints import router as oauth_router
from users.oauth.schemas import OAuthError
from users.password_reset.endpoints import router as password_reset_router
from users.retention import LANE_TASKS
from users.runtime import Runtime
from users.settings import Settings
from users.tokens.endpoints import router as tokens_router


async def _prepare_signing_keys(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    runtime.keys.bind(app.state.db)
    await anyio.to_thread.run_sync(runtime.keys.ensure)
    # Loaded before the first request, so requests only ever refresh it.
    await anyio.to_thread.run_sync(runtime.keys.active)


SPEC = ServiceSpec(
    name="users",
    metadata=Base.metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    # follows first: its /api/v1/accounts/relationships must win over /api/v1/accounts/{id}.
    routers=(
        follows_router,
        accounts_router,
        avatar_router,
        internal_accounts_router,
        oauth_router,
        tokens_router,
        password_reset_router,
        export_router,
    ),
    handlers=handlers,
    build_runtime=Runtime.build,
    lane_tasks=LANE_TASKS,
    on_startup=(_prepare_signing_keys,),
)


async def _oauth_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)
    return exc.response()


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    app = create_service_app(SPEC, settings or Settings(), bus=bus)
    app.add_exception_handler(OAuthError, _oauth_error)
    return app
