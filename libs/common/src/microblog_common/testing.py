"""Test helpers shared by every service's tests: build a service app on SQLite or the test
session's PostgreSQL with the in-process bus, and call it the way the gateway does (signed)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from microblog_common.events import Event
from microblog_common.events.bus import Subscription
from microblog_common.events.memory import MemoryBus
from microblog_common.internal_auth import (
    HEADER_APP_ID,
    HEADER_APP_RECORD_ID,
    HEADER_CLIENT_IP,
    HEADER_SCOPES,
    HEADER_TOKEN_ID,
    HEADER_USER_ID,
    sign_request,
    signing_target,
)

if TYPE_CHECKING:
    import pytest

TEST_SECRET = "test-internal-secret-0123456789abcdef-xyz"  # noqa: S105
BACKENDS = ("sqlite", "postgres")
# Every field of Mastodon 4.3's Account entity, wherever a service renders one.
MASTODON_ACCOUNT_FIELDS = {
    "id", "username", "acct", "display_name", "locked", "bot", "discoverable", "indexable", "group",
    "created_at", "note", "url", "uri", "avatar", "avatar_static", "header", "header_static",
    "followers_count", "following_count", "statuses_count", "last_status_at", "hide_collections",
    "noindex", "emojis", "roles", "fields", "moved", "memorial", "suspended", "limited",
}  # fmt: skip


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """The predicate's first truthy value within `timeout`, else its last (falsy) one: for effects
    that happen after the response (events relayed and handled in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def require_concurrent_writers(backend_or_url: str) -> None:
    """Skips, saying why, a race test on SQLite: it needs two transactions writing at once, which
    PostgreSQL's row locks allow and SQLite (one writer at a time) doesn't."""
    if backend_or_url != "postgres" and not backend_or_url.startswith("postgresql"):
        import pytest  # here: the library doesn't depend on pytest, only tests call this

        pytest.skip("the race needs two writers at once: PostgreSQL's row locks (SQLite has one writer)")


def database_url(request: pytest.FixtureRequest, tmp_path: Path, backend: str, name: str = "service") -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    return str(request.getfixturevalue("pg_url"))


class CapturedEvents:
    """Subscribes to every event on the in-process bus so tests can assert what was published."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.events if e.type == event_type]

    def wait(self, event_type: str, count: int = 1, timeout: float = 5.0) -> list[Event]:
        """The events of `event_type` once there are `count` of them, or what came within `timeout`
        (the outbox relay publishes after the response, so a test waits for it)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.of_type(event_type)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


class ServiceClient:
    """A TestClient that signs each request as the gateway would, optionally as a user."""

    def __init__(self, client: TestClient, secret: str = TEST_SECRET):
        self.client = client
        self.secret = secret

    def request(
        self,
        method: str,
        path: str,
        *,
        user_id: int | None = None,
        scopes: str = "read write follow push",
        token_id: str | None = None,
        app_id: str | None = None,
        application_id: int | None = None,
        client_ip: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        request = self.client.build_request(method, path, **kwargs)
        target = signing_target(request.url.raw_path)
        identity = {HEADER_CLIENT_IP: client_ip}
        if user_id is not None or token_id is not None:
            identity.update(
                {
                    HEADER_USER_ID: str(user_id) if user_id is not None else "",
                    HEADER_SCOPES: scopes,
                    HEADER_TOKEN_ID: token_id or f"test-token-{user_id}",
                    HEADER_APP_ID: app_id or "",
                    HEADER_APP_RECORD_ID: str(application_id) if application_id else "",
                }
            )
        signed = sign_request(self.secret, method, target, identity)
        request.headers.update({**signed, **(headers or {})})
        response: httpx.Response = self.client.send(request)
        return response

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)


def read_export(client: ServiceClient, kind: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a service's internal export (`/internal/export/<kind>`), page by page, as the
    search service's rebuild reads it."""
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        r = client.get(f"/internal/export/{kind}?after={after}&limit={limit}")
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if body["next"] is None:
            return items
        after = int(body["next"])


@contextmanager
def run_service(
    create_app: Callable[..., FastAPI],
    settings_cls: type,
    db_url: str,
    **overrides: Any,
) -> Iterator[tuple[ServiceClient, TestClient, CapturedEvents]]:
    """Start a service app (lifespan included: migrations, relay, consumer) on the in-process bus.
    Yields a signing client, the raw client (for unsigned requests) and the captured events."""
    bus = MemoryBus()
    captured = CapturedEvents()
    settings = settings_cls(
        database_url=db_url,
        event_bus="memory",
        migrate_on_start=True,
        environment="test",
        internal_secret=TEST_SECRET,
        log_json=False,
        outbox_poll_interval_seconds=0.2,
        **overrides,
    )
    app = create_app(settings, bus=bus)
    with TestClient(app) as raw:
        portal = raw.portal
        assert portal is not None  # set while the client's context is open
        portal.call(bus.start)
        portal.call(bus.subscribe, Subscription("test-capture", ("#",), captured))
        try:
            yield ServiceClient(raw), raw, captured
        finally:
            portal.call(bus.close)


def check_service_plumbing(
    create_app: Callable[..., FastAPI], settings_cls: type, db_url: str, **overrides: Any
) -> None:
    """What every service must do, whatever its features: migrate, report ready, refuse requests
    that did not come through the gateway, answer unknown routes in the API's error format, refuse
    a body over its limit before reading it, and serve its OpenAPI document (signed)."""
    with run_service(create_app, settings_cls, db_url, **overrides) as (client, raw, _):
        ready = raw.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok"}
        assert ready.json()["reports"] == {"broker": "ok"}
        metrics = raw.get("/metrics")  # open to the scraper on the private network, like health
        assert metrics.status_code == 200 and "microblog_db_pool_connections" in metrics.text
        assert raw.get("/health/live").json() == {"status": "ok"}
        forged = raw.get(
            "/api/v1/nothing-here", headers={"X-User-Id": "1", "X-Token-Id": "t", "X-User-Scopes": "read"}
        )
        assert forged.status_code == 403
        assert forged.json() == {"error": "This service only accepts requests through the gateway"}
        assert forged.headers["x-request-id"]
        missing = client.get("/api/v1/nothing-here", user_id=1)
        assert missing.status_code == 404 and missing.json() == {"error": "Record not found"}
        huge = client.post(
            "/api/v1/nothing-here", content=b"{}", headers={"content-length": str(100 * 1024 * 1024)}
        )
        assert huge.status_code == 413 and huge.json()["error"].startswith("The request body is too large")
        document = client.get("/openapi.json")
        assert document.status_code == 200 and "ErrorResponse" in document.json()["components"]["schemas"]
