"""One error base class carrying a status code, and the handlers that render every failure as
Mastodon's `{"error": "..."}` JSON (with `details` for validation)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class ApiError(Exception):
    status_code = 400
    default_message = "Bad request"

    def __init__(self, message: str | None = None, *, details: Any = None, headers: dict | None = None):
        self.message = message or self.default_message
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class BadRequest(ApiError):
    status_code = 400


class Unauthorized(ApiError):
    status_code = 401
    default_message = "The access token is invalid"


class Forbidden(ApiError):
    status_code = 403
    default_message = "This action is outside the authorized scopes"


class NotFound(ApiError):
    status_code = 404
    default_message = "Record not found"


class Conflict(ApiError):
    status_code = 409
    default_message = "Conflict"


class PayloadTooLarge(ApiError):
    status_code = 413
    default_message = "Request entity too large"


class Unprocessable(ApiError):
    status_code = 422
    default_message = "Validation failed"


class TooManyRequests(ApiError):
    status_code = 429
    default_message = "Too many requests"


class ServiceUnavailable(ApiError):
    status_code = 503
    default_message = "Service unavailable"


def error_body(message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = details
    return body


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path", "form")]
        details.append({"field": ".".join(loc) or None, "error": err.get("msg", "invalid")})
    return details


def _summary(details: list[dict[str, Any]]) -> str:
    parts = [f"{d['field']} {d['error'].lower()}" if d["field"] else d["error"] for d in details[:3]]
    return "Validation failed: " + ", ".join(parts)


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.message, exc.details), status_code=exc.status_code, headers=exc.headers
    )


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "Record not found"
    return JSONResponse(
        error_body(message), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = _validation_details(exc)
    return JSONResponse(error_body(_summary(details), details), status_code=422)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return JSONResponse(error_body("Internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
