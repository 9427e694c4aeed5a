"""The services behind the gateway and how to reach them: over TCP (`http://host:port`) or over a
unix domain socket (`unix:/absolute/path.sock`, the embedded mode), for HTTP and for WebSocket.

A unix-socket upstream gets a reserved host name (`<service>.unix.invalid`, a TLD that can never
resolve), so URLs stay ordinary `http://` URLs everywhere else.

Two kinds of client: the proxy forwards over one aiohttp session (one connection pool) per
service (`open_session`); the gateway's own calls (health checks, the users service's keys and
revocation feed) go over one pooled httpx client (`build_http_client`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from websockets.asyncio.client import connect, unix_connect

from microblog_common.internal_client import ServiceAddress

SERVICES = ("users", "posts", "search", "translate", "notify", "web")
# An idle pooled connection is dropped before uvicorn's 5 s keep-alive ends on the service's side,
# so a request is never written onto a connection the service is closing at that moment.
IDLE_CONNECTION_SECONDS = 4.0
# Only the client's own headers go to the service: none of aiohttp's defaults (an Accept-Encoding
# the client didn't send would bring back a compressed body it can't read).
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


@dataclass(frozen=True)
class Upstream(ServiceAddress):
    """A service behind the gateway: where it is (parsed by the shared `ServiceAddress`), and how
    to open a WebSocket to it."""

    @classmethod
    def parse(cls, name: str, url: str) -> Upstream:
        address = ServiceAddress.parse(name, url)
        return cls(name=address.name, base_url=address.base_url, socket_path=address.socket_path)

    @property
    def ws_base_url(self) -> str:
        return "ws" + self.base_url[len("http") :]

    def connect_websocket(self, target: str, **kwargs: Any) -> connect:
        """`target` is the path plus query string. Returns websockets' connect (await it or use
        it as an async context manager)."""
        uri = self.ws_base_url + target
        if self.socket_path is not None:
            return unix_connect(self.socket_path, uri, **kwargs)
        return connect(uri, **kwargs)


def build_http_client(
    upstreams: dict[str, Upstream],
    *,
    connect_timeout: float,
    timeout: float,
    max_connections: int,
    max_keepalive_connections: int,
) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_keepalive_connections
    )
    mounts = {
        up.base_url: httpx.AsyncHTTPTransport(uds=up.socket_path, limits=limits)
        for up in upstreams.values()
        if up.socket_path is not None
    }
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        limits=limits,
        mounts=mounts,
        # Internal traffic: never through a proxy named in the environment, never follow redirects.
        trust_env=False,
        follow_redirects=False,
    )


def open_session(upstream: Upstream, *, max_connections: int) -> aiohttp.ClientSession:
    """The proxy's connection pool to one service; call it inside the running event loop.
    Timeouts are given per request."""
    if upstream.socket_path is not None:
        connector: aiohttp.BaseConnector = aiohttp.UnixConnector(
            upstream.socket_path, limit=max_connections, keepalive_timeout=IDLE_CONNECTION_SECONDS
        )
    else:
        connector = aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=IDLE_CONNECTION_SECONDS)
    return aiohttp.ClientSession(
        connector=connector,
        # A proxy passes bodies as they are, and keeps no cookies: a jar would send one client's
        # cookies along with the next client's requests.
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=_NO_AUTO_HEADERS,
        trust_env=False,  # internal traffic: never through a proxy named in the environment
        timeout=aiohttp.ClientTimeout(total=None),
    )
