"""A database that can't answer right now (a cut connection, a failover, a deadlock, a pool or
SQLite lock busy) is a 503 the client may retry, never a 500. Apart from `errors.py` so that what
has no database (the gateway) doesn't import SQLAlchemy."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from microblog_common.errors import error_body, unexpected_error

log = structlog.get_logger(__name__)

# SQLSTATE classes that say "the database can't do it right now", not "the request is wrong":
# 08 connection exception, 40 transaction rollback (deadlock, serialization failure), 53
# insufficient resources, 57 operator intervention (a terminated backend, a shutdown).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57")
DATABASE_RETRY_AFTER_SECONDS = 1


def is_transient_database_error(exc: BaseException) -> bool:
    """Whether a database failure is one a retry can get past: the connection was cut (a
    failover, a restart, a terminated backend), a deadlock or serialization failure, the pool or
    SQLite's lock busy. Anything else (a broken query) is a bug and stays a 500."""
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True  # no pooled connection became free in time
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "pgcode", None)
    if sqlstate:
        return str(sqlstate)[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(exc.orig)


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    """A database that can't answer right now is a 503 the client may retry, never a 500: the
    request's transaction rolled back, so nothing it asked for happened."""
    if not is_transient_database_error(error):
        return await unexpected_error(request, error)  # a bug
    log.warning("database_unavailable", error_type=type(error).__name__, error=str(error).split("\n")[0])
    return JSONResponse(
        error_body("The database is unavailable right now; try again in a moment"),
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def install_database_error_handlers(app: FastAPI) -> None:
    # Answered here rather than by the catch-all: an answered 503 leaves the connection open for
    # the next request (an exception reaching the server makes it close the connection).
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
