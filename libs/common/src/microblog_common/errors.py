"""One error base class carrying a status code, and the handlers that render every failure as
Mastodon's `{"error": "..."}` JSON (with `details` for validation, always in Mastodon's shape: built by
`ValidationErrors`, the one helper every service's own validation goes through too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = structlog.get_logger(__name__)


class ApiError(Exception):
    status_code = 400
    default_message = "Bad request"

    def __init__(
        self, message: str | None = None, *, details: Any = None, headers: dict[str, str] | None = None
    ):
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


# Mastodon's validation error codes (`details[field][i].error`) and the descriptions Rails gives them.
ERR_BLANK = "ERR_BLANK"
ERR_INVALID = "ERR_INVALID"
ERR_TOO_LONG = "ERR_TOO_LONG"
ERR_TOO_SHORT = "ERR_TOO_SHORT"
ERR_TAKEN = "ERR_TAKEN"
ERR_RESERVED = "ERR_RESERVED"
ERR_ACCEPTED = "ERR_ACCEPTED"
ERR_INCLUSION = "ERR_INCLUSION"
DESCRIPTIONS = {
    ERR_BLANK: "can't be blank",
    ERR_INVALID: "is invalid",
    ERR_TOO_LONG: "is too long",
    ERR_TOO_SHORT: "is too short",
    ERR_TAKEN: "has already been taken",
    ERR_RESERVED: "is reserved",
    ERR_ACCEPTED: "must be accepted",
    ERR_INCLUSION: "is not included in the list",
}
# A problem with the request as a whole rather than one field (Rails' `base`).
BASE_FIELD = "base"
FieldErrors = dict[str, list[dict[str, str]]]


def humanize(field: str) -> str:
    """`source.privacy` -> `Source privacy`, as Rails' `full_messages` names attributes."""
    words = field.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


class ValidationErrors:
    """Mastodon's 422, the one shape of every validation failure: `{"error": "Validation failed:
    Username can't be blank, ...", "details": {"username": [{"error": "ERR_BLANK", "description":
    "can't be blank"}]}}`. Collect with `add`, then `raise_if_any()`."""

    def __init__(self) -> None:
        self.details: FieldErrors = {}

    def add(self, field: str, code: str = ERR_INVALID, description: str | None = None) -> ValidationErrors:
        self.details.setdefault(field or BASE_FIELD, []).append(
            {"error": code, "description": description or DESCRIPTIONS.get(code, "is invalid")}
        )
        return self

    def __bool__(self) -> bool:
        return bool(self.details)

    def summary(self) -> str:
        parts = []
        for field, errors in self.details.items():
            for error in errors:
                name = "" if field == BASE_FIELD else humanize(field) + " "
                parts.append(name + error["description"])
        return "Validation failed: " + ", ".join(parts)

    def error(self, message: str | None = None) -> Unprocessable:
        """`message` replaces the generated summary (e.g. Mastodon's own wording of an error)."""
        return Unprocessable(message or self.summary(), details=self.details)

    def raise_if_any(self, message: str | None = None) -> None:
        if self.details:
            raise self.error(message)


def invalid(
    field: str, code: str = ERR_INVALID, description: str | None = None, *, message: str | None = None
) -> Unprocessable:
    """One field's problem as Mastodon's 422 (raise it)."""
    return ValidationErrors().add(field, code, description).error(message)


def _pydantic_problem(err: dict[str, Any]) -> tuple[str, str | None]:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return ERR_BLANK, None
    if kind in ("string_too_long", "too_long"):
        limit = ctx.get("max_length")
        return ERR_TOO_LONG, f"is too long (maximum is {limit} characters)" if limit is not None else None
    if kind in ("string_too_short", "too_short"):
        limit = ctx.get("min_length")
        if kind == "string_too_short" and limit == 1:
            return ERR_BLANK, None
        return ERR_TOO_SHORT, f"is too short (minimum is {limit} characters)" if limit is not None else None
    if kind in ("literal_error", "enum"):
        return ERR_INCLUSION, None
    if kind == "value_error":
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        return ERR_INVALID, message or None
    if kind == TEXT_ERROR_TYPE:
        return ERR_INVALID, str(err.get("msg"))
    return ERR_INVALID, None


# The error type of `microblog_common.text` (characters no database column may hold).
TEXT_ERROR_TYPE = "unacceptable_text"
_LOCATIONS = ("body", "query", "path", "form", "header", "cookie")


def validation_errors_of(errors: Sequence[Any]) -> ValidationErrors:
    """pydantic/FastAPI errors in Mastodon's shape, keyed by the field's dotted path."""
    collected = ValidationErrors()
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in _LOCATIONS]
        code, description = _pydantic_problem(err)
        collected.add(".".join(loc) or BASE_FIELD, code, description)
    return collected


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    exc = cast(ApiError, error)
    return JSONResponse(
        error_body(exc.message, exc.details), status_code=exc.status_code, headers=exc.headers
    )


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    exc = cast(StarletteHTTPException, error)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "Record not found"
    return JSONResponse(
        error_body(message), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    exc = cast(RequestValidationError, error)
    errors = validation_errors_of(exc.errors())
    return JSONResponse(error_body(errors.summary(), errors.details), status_code=422)


async def _client_left(_: Request, exc: Exception) -> JSONResponse:
    # Not the service's failure: the client (or the gateway, cutting a body over its limit) went
    # away mid-body. Nobody reads this answer.
    log.info("client_disconnected")
    return JSONResponse(error_body("The request body was cut short"), status_code=400)


async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    """The catch-all 500: logged with its traceback, answered without internals."""
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return JSONResponse(error_body("Internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_left)
    app.add_exception_handler(Exception, unexpected_error)


# -- the error format, as OpenAPI documents it ---------------------------------------------------


class FieldError(BaseModel):
    error: str = Field(examples=[ERR_BLANK])
    description: str = Field(examples=["can't be blank"])


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error: str
    details: dict[str, list[FieldError]] | None = None


class ValidationErrorResponse(ErrorResponse):
    """422: what was wrong, field by field (`base` for the request as a whole)."""

    details: dict[str, list[FieldError]]


class OAuthErrorResponse(BaseModel):
    """RFC 6749 section 5.2, as Doorkeeper (Mastodon's OAuth server) answers."""

    error: str
    error_description: str
