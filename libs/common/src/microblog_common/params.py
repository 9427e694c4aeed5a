"""Request parameters the way Mastodon (Rails) reads them: a JSON body, a form-encoded body and a
multipart body are all accepted, merged over the query string, and bracketed form keys become
nested values (`source[language]=en`, `fields_attributes[0][name]=x`, `id[]=1&id[]=2`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from microblog_common.errors import BadRequest
from microblog_common.limits import DEFAULT_MAX_UPLOAD_BODY_BYTES, check_json_depth, is_json, media_type

M = TypeVar("M", bound=BaseModel)
_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def _key_path(key: str) -> list[str]:
    """`a[b][]` -> ["a", "b", ""]: the empty part means "append to a list"."""
    head, bracket, _ = key.partition("[")
    if not bracket:
        return [key]
    return [head, *_KEY_PART.findall(key[len(head) :])]


def nest(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Rack's nested parameter parsing, enough for the Mastodon API's forms."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        path = _key_path(key)
        node: Any = result
        for i, part in enumerate(path):
            last = i == len(path) - 1
            next_is_list = not last and path[i + 1] == ""
            if part == "":
                if not isinstance(node, list):
                    break  # `a[][b]` shapes are not used by the API: drop rather than guess
                if last:
                    node.append(value)
                break
            if not isinstance(node, dict):
                break
            if last:
                node[part] = value
            else:
                default: Any = [] if next_is_list else {}
                existing = node.get(part)
                if not isinstance(existing, type(default)):
                    node[part] = default
                node = node[part]
    return result


async def request_params(request: Request) -> dict[str, Any]:
    """Query parameters, overridden by the body's (whatever its encoding). File parts of a
    multipart body come as `UploadFile` values (what `avatar`/`header` uploads read)."""
    params = nest(request.query_params.multi_items())
    content_type = request.headers.get("content-type")
    kind = media_type(content_type)
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # A part may be as large as the body's limit (enforced by BodyLimitMiddleware before this
        # reads anything), so a long text field is a 422 of its field, never a 400 of the parser.
        try:
            form = await request.form(max_part_size=DEFAULT_MAX_UPLOAD_BODY_BYTES)
        except HTTPException as exc:  # Starlette's answer to a body it can't parse
            raise BadRequest(f"The request body is not valid {kind}") from exc
        params.update(nest(form.multi_items()))
    elif is_json(content_type):
        raw = await request.body()
        if raw.strip():
            check_json_depth(raw)  # before the parser recurses into it
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise BadRequest("The request body is not valid JSON") from exc
            if not isinstance(body, dict):
                raise BadRequest("The request body must be a JSON object")
            params.update(body)
    return params


def validated(model: type[M], params: dict[str, Any]) -> M:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        # Rendered by the shared handler: 422 with `details`.
        raise RequestValidationError(exc.errors(include_url=False)) from exc


def body(model: type[M]) -> Any:
    """`data: Annotated[Model, body(Model)]`: the request's parameters validated as `model`."""

    async def dependency(params: dict[str, Any] = Depends(request_params)) -> M:
        return validated(model, params)

    dependency.__name__ = f"body_{model.__name__}"
    # What `microblog_common.openapi` documents as the request body (JSON, form or multipart).
    dependency.__microblog_body__ = model  # type: ignore[attr-defined]
    return Depends(dependency)


def list_param(params: dict[str, Any], name: str) -> list[str]:
    """`id[]=1&id[]=2`, `id=1` or a JSON list, as a list of strings."""
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):  # `id[0]=1&id[1]=2`
        return [str(v) for _, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    return [str(value)]


def documented_params(model: type[BaseModel]) -> Any:
    """`params: Annotated[dict[str, Any], documented_params(Model)]`: the request's parameters as
    `request_params` reads them, for an endpoint that checks them itself (Mastodon's own parsing
    and messages), documented as `model`'s body all the same."""

    async def dependency(params: dict[str, Any] = Depends(request_params)) -> dict[str, Any]:
        return params

    dependency.__name__ = f"params_{model.__name__}"
    dependency.__microblog_body__ = model  # type: ignore[attr-defined]
    return Depends(dependency)
