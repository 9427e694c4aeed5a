"""Each service's OpenAPI document as it really is, for the gateway to merge into the public
`/api/openapi.json`.

FastAPI alone can't see three things this library does its own way, so they are added here:
- request bodies: `params.body(Model)` reads JSON, form-encoded and multipart alike (Rails-style),
  so FastAPI sees no body; the model is documented for all three content types;
- who may call: `require_user`/`require_token`/`optional_token` carry their scopes, documented as
  `security` (a bearer token, or OAuth 2 with those scopes; optional ones also allow no token);
- errors: every operation answers the API's error format (`ErrorResponse`), 422 with Mastodon's
  `details` (`ValidationErrorResponse`) instead of FastAPI's own shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from microblog_common.errors import ErrorResponse, OAuthErrorResponse, ValidationErrorResponse
from microblog_common.internal_auth import AUTH_OPTIONAL

REF = "#/components/schemas/{model}"


class EmptyObject(BaseModel):
    """`{}`: what Mastodon answers where there is nothing to say (a revoke, a dismissal)."""


# `responses=` of an endpoint that answers with an image.
def image_responses(*media_types: str) -> dict[int | str, dict[str, Any]]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": "The image", "content": {kind: binary for kind in media_types}}}


def link(method: str, path: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation `method path`, its parameters filled from the answer by
    runtime expressions (`notification_id="$response.body#/0/id"`). By `operationRef`, a pointer
    into `paths`, which the gateway's merged document keeps (it renames operation ids)."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method.lower()}", "parameters": parameters}


# `responses=` of an operation whose answer leads to others (what clients and stateful fuzzers follow).
def link_responses(status: int = 200, **links: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {status: {"links": links}}


BODY_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
# What any operation may answer besides its success: the API's error format.
ERROR_STATUSES = {
    "400": "Bad request (e.g. a malformed or too deeply nested body)",
    "401": "The access token is missing or invalid",
    "403": "The token lacks the scope this needs",
    "404": "Not found, or not visible to the caller",
    "413": "The request body is too large",
    "422": "Validation failed",
    "429": "Too many requests",
    "503": "A service this needs is unavailable",
}
BEARER = "bearerAuth"
OAUTH = "oauth2"


def schema_refs(models: list[type[BaseModel]], components: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    """`$ref`s to `models`, their definitions (and those of the models they use) added to
    `components`."""
    refs, definitions = models_json_schema(
        [(model, mode) for model in models],  # type: ignore[misc]
        ref_template=REF,
    )
    components.update(definitions.get("$defs", {}))
    return [refs[(model, mode)] for model in models]  # type: ignore[index]


def api_routes(routes: list[Any]) -> Iterator[tuple[str, APIRoute]]:
    """(path template, route) of every documented APIRoute, through included routers too."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were kept as such
        for route in routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                yield route.path_format, route
        return
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            yield context.path_format or route.path_format, route


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def _marker(route: APIRoute, name: str) -> list[Any]:
    return [getattr(d.call, name) for d in _walk(route.dependant) if d.call and hasattr(d.call, name)]


def _security(auth: str, scopes: tuple[str, ...]) -> list[dict[str, list[str]]]:
    options: list[dict[str, list[str]]] = [{BEARER: []}, {OAUTH: list(scopes)}]
    return [*options, {}] if auth == AUTH_OPTIONAL else options


def _error_response(ref: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def document(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_ref, validation_ref, oauth_ref = schema_refs(
        [ErrorResponse, ValidationErrorResponse, OAuthErrorResponse], components, "serialization"
    )
    for path, route in api_routes(routes):
        path_item = schema.get("paths", {}).get(path, {})
        for method in route.methods or ():
            operation = path_item.get(method.lower())
            if operation is None:
                continue
            bodies = _marker(route, "__microblog_body__")
            if bodies:
                (body_ref,) = schema_refs([bodies[0]], components, "validation")
                operation["requestBody"] = {
                    "required": False,
                    "content": {kind: {"schema": body_ref} for kind in BODY_TYPES},
                }
            auth = _marker(route, "__microblog_auth__")
            if auth:
                operation["security"] = _security(*auth[0])
            responses = operation.setdefault("responses", {})
            oauth_errors = any(
                (r or {}).get("model") is OAuthErrorResponse for r in (route.responses or {}).values()
            )
            html = isinstance(route.response_class, type) and issubclass(route.response_class, HTMLResponse)
            for status, description in ERROR_STATUSES.items():
                existing = responses.get(status)
                if status == "422" or existing is None or "content" not in existing:
                    ref = validation_ref if status == "422" else error_ref
                    if oauth_errors and status in ("400", "401", "403"):
                        ref = oauth_ref
                    responses[status] = _error_response(ref, (existing or {}).get("description", description))
                if html:
                    # A page's own errors are pages too; what the shared plumbing refuses (a form's
                    # 422, a body over its limit) is still the API's JSON.
                    responses[status]["content"]["text/html"] = {"schema": {"type": "string"}}
    for fastapi_own in ("HTTPValidationError", "ValidationError"):
        components.pop(fastapi_own, None)
    schema.setdefault("components", {})["securitySchemes"] = security_schemes()
    return schema


def security_schemes(
    scopes: dict[str, str] | None = None,
    token_url: str = "/oauth/token",  # noqa: S107 - a path
) -> dict[str, Any]:
    return {
        BEARER: {"type": "http", "scheme": "bearer", "description": "An OAuth 2 access token"},
        OAUTH: {
            "type": "oauth2",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "/oauth/authorize",
                    "tokenUrl": token_url,
                    "scopes": scopes or {},
                },
                "password": {"tokenUrl": token_url, "scopes": scopes or {}},
                "clientCredentials": {"tokenUrl": token_url, "scopes": scopes or {}},
            },
        },
    }


def install_openapi(app: FastAPI) -> None:
    """`app.openapi()` (served at `/openapi.json`) documents bodies, security and errors."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            app.openapi_schema = document(schema, app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
