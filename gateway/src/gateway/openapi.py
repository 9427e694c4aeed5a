"""`GET /api/openapi.json`: the public API as one OpenAPI document, merged from what each service
says of itself (its `/openapi.json`, fetched signed over the gateway's pooled client) plus the
gateway's own public endpoints.

Generic on purpose: a service's operations appear once the route table sends their path to that
service (a new service or endpoint shows up with no change here), and only those (a service's
internal or unrouted endpoints never do). Schemas with the same name in two documents are kept
apart by prefixing the later one's with its service. A service that can't be reached is left out
and asked again at the next request; the documents that arrived are kept for `ttl_seconds`."""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.routes import resolve
from gateway.upstreams import Upstream
from microblog_common.internal_auth import sign_request
from microblog_common.openapi import document, security_schemes

log = structlog.get_logger(__name__)

SERVICE_DOCUMENT = "/openapi.json"
_TEMPLATE = re.compile(r"\{[^/{}]+\}")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_REF = "#/components/schemas/"


def routed_to(path: str, method: str) -> str | None:
    """The service the route table sends `method path` to, for a path template (`/a/{id}`)."""
    found = resolve(method.upper(), _TEMPLATE.sub("1", path))
    return found.service if found else None


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF) and ref[len(_REF) :] in renames:
            node = {**node, "$ref": _REF + renames[ref[len(_REF) :]]}
        return {key: _rename_refs(value, renames) for key, value in node.items()}
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def merge(base: dict[str, Any], service: str, doc: dict[str, Any]) -> None:
    """Adds the operations of `doc` that the route table sends to `service`, with the schemas they
    use, into `base`."""
    schemas = base.setdefault("components", {}).setdefault("schemas", {})
    theirs = doc.get("components", {}).get("schemas", {})
    renames = {
        name: f"{service}_{name}"
        for name, schema in theirs.items()
        if name in schemas and schemas[name] != schema
    }
    doc = _rename_refs(doc, renames)
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        schemas.setdefault(renames.get(name, name), schema)
    paths = base.setdefault("paths", {})
    for path, item in doc.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None or routed_to(path, method) != service:
                continue
            operation = {**operation, "tags": [service, *operation.get("tags", [])]}
            if "operationId" in operation:
                operation["operationId"] = f"{service}_{operation['operationId']}"
            paths.setdefault(path, {})[method] = operation
            if "parameters" in item:
                paths[path].setdefault("parameters", item["parameters"])


class PublicDocument:
    def __init__(
        self,
        gateway: FastAPI,
        upstreams: dict[str, Upstream],
        secret: str,
        client: Callable[[], httpx.AsyncClient],
        *,
        timeout: float = 3.0,
        ttl_seconds: float = 300.0,
    ):
        self.gateway = gateway
        self.upstreams = upstreams
        self.secret = secret
        self.client = client
        self.timeout = timeout
        self.ttl_seconds = ttl_seconds
        self._documents: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()

    async def _fetch(self, name: str, upstream: Upstream) -> None:
        headers = sign_request(self.secret, "GET", SERVICE_DOCUMENT, {})
        try:
            response = await self.client().get(
                upstream.base_url + SERVICE_DOCUMENT, headers=headers, timeout=self.timeout
            )
            response.raise_for_status()
            self._documents[name] = (time.monotonic(), response.json())
        except (httpx.HTTPError, ValueError) as exc:
            # Left out this time; asked again at the next request.
            log.warning("openapi_document_unavailable", service=name, error=repr(exc))

    async def render(self, origin: str) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            stale = [
                name
                for name in self.upstreams
                if name not in self._documents or now - self._documents[name][0] > self.ttl_seconds
            ]
            await asyncio.gather(*(self._fetch(name, self.upstreams[name]) for name in stale))
            documents = {name: doc for name, (_, doc) in self._documents.items()}
        base = document(
            get_openapi(
                title="Microblog API",
                version=self.gateway.version,
                description=(
                    "The Mastodon client API as this microblog serves it (docs.joinmastodon.org), "
                    'with its extensions. Every error is `{"error": ...}`; 422 adds `details`.'
                ),
                routes=self.gateway.routes,
            ),
            self.gateway.routes,
        )
        base["servers"] = [{"url": origin}]
        for name in self.upstreams:
            if name in documents:
                merge(base, name, copy.deepcopy(documents[name]))
        base["components"]["securitySchemes"] = security_schemes(_scopes(documents))
        return base


def _scopes(documents: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every scope an operation asks for, for the OAuth 2 scheme's list."""
    found: set[str] = set()
    for doc in documents.values():
        for item in doc.get("paths", {}).values():
            for method in _METHODS:
                for requirement in (item.get(method) or {}).get("security", []):
                    for scopes in requirement.values():
                        found.update(scopes)
    return {scope: scope for scope in sorted(found)}
