"""Calls from one part to another over the private network: where a service is (`ServiceAddress`,
TCP or a unix socket) and a client that signs each request the way the gateway does, so the callee's
`InternalAuthMiddleware` lets it in.

ARCHITECTURE.md allows a synchronous call between services only where the answer is needed in the
same request, with a timeout and a clear error when the other side is down: every failure to get an
answer (refused, timed out, a 5xx) becomes `ServiceUnavailable` naming the service, which the
callee's caller renders as a 503 in the API's error format. A 4xx answer is the callee's verdict and
comes back as the response, for the caller to interpret.

`InternalClient` is synchronous (route functions run in the thread pool, and command-line tools);
`AsyncInternalClient` is for code on the event loop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx

from microblog_common.errors import ServiceUnavailable
from microblog_common.internal_auth import sign_request, signing_target

_UNIX_PREFIX = "unix:"


@dataclass(frozen=True)
class ServiceAddress:
    """`http://host:port` or `unix:/absolute/path.sock`. A unix-socket service gets a reserved
    host name (`<name>.unix.invalid`, a TLD that never resolves), so URLs stay ordinary `http://`
    URLs everywhere else."""

    name: str
    # The http:// origin requests are addressed to (for a unix socket: its reserved host name).
    base_url: str
    socket_path: str | None = None

    @classmethod
    def parse(cls, name: str, url: str) -> ServiceAddress:
        url = url.strip()
        if url.startswith(_UNIX_PREFIX):
            path = url[len(_UNIX_PREFIX) :]
            if not PurePosixPath(path).is_absolute():
                raise ValueError(
                    f"{name}: a unix socket URL needs an absolute path, e.g. unix:/run/{name}.sock"
                )
            return cls(name=name, base_url=f"http://{name}.unix.invalid", socket_path=path)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{name}: expected http://host:port or unix:/path.sock, got {url!r}")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError(f"{name}: a service URL is an origin only (no path or query), got {url!r}")
        return cls(name=name, base_url=f"{parts.scheme}://{parts.netloc}")


def validate_service_url(value: str | None) -> str | None:
    """For settings fields holding a service URL: refuse a malformed one at start-up."""
    if value is None:
        return None
    ServiceAddress.parse("setting", value)
    return value.strip().rstrip("/")


def _unavailable(address: ServiceAddress, reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"The {address.name} service is unavailable ({reason})")


class _Signer:
    def __init__(self, address: ServiceAddress, secret: str):
        self.address = address
        self.secret = secret

    def signed(self, request: httpx.Request, identity: dict[str, str] | None) -> httpx.Request:
        target = signing_target(request.url.raw_path)
        request.headers.update(sign_request(self.secret, request.method, target, identity or {}))
        return request

    def check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 500:
            raise _unavailable(self.address, f"it answered {response.status_code}")
        return response


class InternalClient:
    """`InternalClient(ServiceAddress.parse("users", settings.users_url), secret, timeout=2)`;
    `client.get("/internal/...")` returns the response (status < 500) or raises ServiceUnavailable."""

    def __init__(self, address: ServiceAddress, secret: str, *, timeout: float = 3.0):
        self.address = address
        self._signer = _Signer(address, secret)
        transport = httpx.HTTPTransport(uds=address.socket_path) if address.socket_path else None
        self._client = httpx.Client(
            base_url=address.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            # Internal traffic: never through a proxy named in the environment, never redirected.
            trust_env=False,
            follow_redirects=False,
        )

    def request(
        self, method: str, target: str, *, identity: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        request = self._signer.signed(self._client.build_request(method, target, **kwargs), identity)
        try:
            response = self._client.send(request)
        except httpx.TimeoutException as exc:
            raise _unavailable(self.address, "it did not answer in time") from exc
        except httpx.TransportError as exc:
            raise _unavailable(self.address, "it could not be reached") from exc
        return self._signer.check(response)

    def get(self, target: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", target, **kwargs)

    def post(self, target: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", target, **kwargs)

    def close(self) -> None:
        self._client.close()


class AsyncInternalClient:
    """The same for code on the event loop."""

    def __init__(self, address: ServiceAddress, secret: str, *, timeout: float = 3.0):
        self.address = address
        self._signer = _Signer(address, secret)
        transport = httpx.AsyncHTTPTransport(uds=address.socket_path) if address.socket_path else None
        self._client = httpx.AsyncClient(
            base_url=address.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            trust_env=False,
            follow_redirects=False,
        )

    async def request(
        self, method: str, target: str, *, identity: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        request = self._signer.signed(self._client.build_request(method, target, **kwargs), identity)
        try:
            response = await self._client.send(request)
        except httpx.TimeoutException as exc:
            raise _unavailable(self.address, "it did not answer in time") from exc
        except httpx.TransportError as exc:
            raise _unavailable(self.address, "it could not be reached") from exc
        return self._signer.check(response)

    async def get(self, target: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", target, **kwargs)

    async def post(self, target: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", target, **kwargs)

    async def aclose(self) -> None:
        await self._client.aclose()
