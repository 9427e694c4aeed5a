"""The web UI's client of the public API: every page is made from what the gateway answers, as
any Mastodon app's would be. Never another service's database, never a service directly.

Each call carries the signed-in person's token (if any) and names the browser's address, signed
with the internal secret, so the gateway counts sign-ins and registrations per browser rather
than per web server. What comes back is an `ApiResponse`, or one of three failures the pages
turn into words: `ApiError` (the API refused: a 4xx with its message and details),
`SignedOut` (the session's token is no longer accepted), `ApiUnavailable` (the API or the
service behind it could not answer: 5xx, a timeout, a refused connection)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import structlog

from microblog_common.internal_auth import sign_client_address, signing_target
from microblog_common.logging import current_ids
from microblog_common.request_context import HEADER_CORRELATION_ID

log = structlog.get_logger(__name__)

_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]+)"')
# "The search service is unavailable", "The translate service did not answer in time"...
_SERVICE_NAMED = re.compile(r"\bThe (\w+) service\b")

Params = Mapping[str, str | int | list[str] | None]


@dataclass
class ApiResponse:
    status: int
    data: Any
    headers: httpx.Headers
    links: dict[str, dict[str, str]] = field(default_factory=dict)

    def cursor(self, rel: str, name: str) -> str | None:
        """A parameter of the `Link` header's `rel` URL (`next` -> `max_id`, `prev` -> `min_id`)."""
        return self.links.get(rel, {}).get(name)


class ApiError(Exception):
    """The API refused the request (4xx): its message, and the per-field details of a 422."""

    def __init__(self, status: int, message: str, details: Any = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def field_errors(self) -> dict[str, list[str]]:
        """Mastodon's `{"field": [{"error": "ERR_X", "description": "..."}]}` as field -> codes."""
        found: dict[str, list[str]] = {}
        if isinstance(self.details, dict):
            for name, problems in self.details.items():
                if isinstance(problems, list):
                    found[str(name)] = [
                        str(p.get("error") or p.get("description") or "") if isinstance(p, dict) else str(p)
                        for p in problems
                    ]
        elif isinstance(self.details, list):  # the older `[{"field", "error"}]` shape
            for problem in self.details:
                if isinstance(problem, dict) and problem.get("field"):
                    found.setdefault(str(problem["field"]), []).append(str(problem.get("error", "")))
        return found


class SignedOut(Exception):
    """The session's token was refused (revoked, expired): the person has to sign in again."""


class ApiUnavailable(Exception):
    """No answer: the gateway or the service behind it is down, slow or broken."""

    def __init__(self, message: str, service: str | None = None):
        super().__init__(message)
        self.message = message
        self.service = service


def _links(header: str | None) -> dict[str, dict[str, str]]:
    links: dict[str, dict[str, str]] = {}
    for url, rel in _LINK.findall(header or ""):
        query = parse_qs(urlsplit(url).query)
        links[rel] = {key: values[0] for key, values in query.items() if values}
    return links


QueryPairs = list[tuple[str, str | int | float | bool | None]]


def _flatten(params: Params | None) -> QueryPairs:
    pairs: QueryPairs = []
    for key, value in (params or {}).items():
        if value is None or value == "":
            continue
        if isinstance(value, list):
            pairs.extend((key, str(item)) for item in value)
        else:
            pairs.append((key, str(value)))
    return pairs


class Api:
    """One pooled HTTP client to the gateway for the whole process; `close()` at shutdown."""

    def __init__(self, gateway_url: str, secret: str, *, timeout: float):
        self.secret = secret
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=gateway_url,
            timeout=httpx.Timeout(timeout),
            # Internal traffic: never through a proxy named in the environment, and redirects are
            # the pages' business.
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def close(self) -> None:
        await self._client.aclose()

    def _build(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        client_ip: str | None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Request:
        request = self._client.build_request(method, path, params=_flatten(params), **kwargs)
        if token:
            request.headers["authorization"] = f"Bearer {token}"
        if client_ip:
            target = signing_target(request.url.raw_path)
            request.headers.update(sign_client_address(self.secret, method, target, client_ip))
        _, correlation_id = current_ids()
        if correlation_id:
            request.headers[HEADER_CORRELATION_ID] = correlation_id
        request.headers.update(headers or {})
        return request

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        client_ip: str | None = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> ApiResponse:
        request = self._build(
            method, path, token=token, client_ip=client_ip, params=params, headers=headers, **kwargs
        )
        try:
            response = await self._client.send(request)
        except httpx.TimeoutException as exc:
            raise ApiUnavailable("The server did not answer in time") from exc
        except httpx.TransportError as exc:
            log.warning("api_unreachable", path=path, error=repr(exc))
            raise ApiUnavailable("The server could not be reached") from exc
        return self._answer(response, token)

    def _answer(self, response: httpx.Response, token: str | None) -> ApiResponse:
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        if response.status_code >= 500:
            message = data.get("error") if isinstance(data, dict) else None
            message = str(message or response.reason_phrase or "Service unavailable")
            named = _SERVICE_NAMED.search(message)
            raise ApiUnavailable(message, named.group(1) if named else None)
        if response.status_code == 401 and token:
            raise SignedOut()
        if response.status_code >= 400:
            if isinstance(data, dict):
                message = str(data.get("error_description") or data.get("error") or response.reason_phrase)
                raise ApiError(response.status_code, message, data.get("details"))
            raise ApiError(response.status_code, response.reason_phrase or "Request failed")
        return ApiResponse(response.status_code, data, response.headers, _links(response.headers.get("link")))

    async def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ApiResponse:
        return await self.request("POST", path, **kwargs)

    @asynccontextmanager
    async def stream(self, path: str, *, token: str) -> AsyncIterator[httpx.Response]:
        """A long-lived GET (the streaming API): no read timeout once it answered."""
        request = self._build("GET", path, token=token, client_ip=None)
        request.extensions["timeout"] = httpx.Timeout(self.timeout, read=None).as_dict()
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ApiUnavailable("The streaming server could not be reached") from exc
        try:
            if response.status_code == 401:
                raise SignedOut()
            if response.status_code != 200:
                raise ApiUnavailable(f"The streaming server answered {response.status_code}")
            yield response
        finally:
            await response.aclose()
