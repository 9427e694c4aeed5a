"""The posts service on SQLite and on the test session's PostgreSQL, called as the gateway would
(signed identity headers). What the users service would tell it arrives as real `user.*` events
on the service's in-process bus, handled by its inbox consumer as in production."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from sqlalchemy import event as sa_event
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from microblog_common.contracts.users import follow_subject
from microblog_common.events import Event
from microblog_common.ids import new_id
from microblog_common.internal_auth import InternalAuthMiddleware
from microblog_common.testing import TEST_SECRET, CapturedEvents, ServiceClient, database_url, run_service
from posts.app import create_app
from posts.settings import Settings

PUBLIC_URL = "http://social.example"
# Short waits so tests run fast; scheduling tests set their own lead time.
FAST = {
    "public_url": PUBLIC_URL,
    "users_timeout_seconds": 1.0,
    "scheduled_poll_interval_seconds": 0.2,
    "detected_languages": ("en", "es", "fr", "de"),
}


@dataclass
class User:
    id: int
    username: str
    version: int = 1


class Caller:
    """Requests as one user (or anonymously), through an emulated gateway."""

    def __init__(self, posts: Posts, user_id: int | None, scopes: str = "read write follow push"):
        self.posts = posts
        self.user_id = user_id
        self.scopes = scopes

    def request(self, method: str, path: str, **kwargs: Any):
        if self.user_id is not None:
            kwargs.setdefault("user_id", self.user_id)
            kwargs.setdefault("scopes", self.scopes)
        return self.posts.client.request(method, path, **kwargs)

    def get(self, path: str, **kw: Any):
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any):
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any):
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.request("DELETE", path, **kw)

    # -- shortcuts -------------------------------------------------------------------------
    def status(self, text: str, **form: Any) -> dict:
        r = self.post("/api/v1/statuses", json={"status": text, **form})
        assert r.status_code == 200, r.text
        return r.json()


class UsersStandIn:
    """The users service's `GET /internal/accounts/{id}` as its contract says (the snapshot the
    test last published for the account, 404 for an unknown one), served over a real unix socket
    behind the real `InternalAuthMiddleware`; `down` makes it unreachable-like (503), `lagging`
    holds back the newest snapshot of no account."""

    def __init__(self) -> None:
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.down = False
        self.calls = 0

    def app(self) -> Starlette:
        async def snapshot(request: Request) -> Response:
            self.calls += 1
            if self.down:
                return JSONResponse({"error": "down"}, status_code=503)
            found = self.snapshots.get(int(request.path_params["account_id"]))
            if found is None:
                return JSONResponse({"error": "Record not found"}, status_code=404)
            return JSONResponse(found)

        app = Starlette(routes=[Route("/internal/accounts/{account_id}", snapshot)])
        app.add_middleware(InternalAuthMiddleware, secret=TEST_SECRET)
        return app

    def publish(self, data: dict[str, Any]) -> None:
        account_id = int(data["id"])
        held = self.snapshots.get(account_id)
        if held is None or held["version"] < data["version"]:
            self.snapshots[account_id] = data


@pytest.fixture(scope="session")
def users_service(tmp_path_factory) -> Iterator[tuple[UsersStandIn, str]]:
    standin = UsersStandIn()
    path = tmp_path_factory.mktemp("users") / "users.sock"
    server = uvicorn.Server(uvicorn.Config(standin.app(), uds=str(path), log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the users stand-in did not start"
        time.sleep(0.02)
    yield standin, f"unix:{path}"
    server.should_exit = True
    thread.join(5)


class Posts:
    def __init__(self, client: ServiceClient, raw, captured: CapturedEvents, users: UsersStandIn):
        self.client = client
        self.raw = raw
        self.captured = captured
        self.users = users
        self.pair_versions: dict[tuple[int, int], int] = {}

    @property
    def app(self):
        return self.raw.app

    @property
    def settings(self) -> Settings:
        return self.app.state.settings

    def as_(self, user: User | int | None, scopes: str = "read write follow push") -> Caller:
        return Caller(self, user.id if isinstance(user, User) else user, scopes)

    @property
    def anonymous(self) -> Caller:
        return Caller(self, None)

    # -- what the users service would publish ---------------------------------------------
    def deliver(
        self, event_type: str, data: dict[str, Any], subject: int | str, version: int | None = None
    ) -> Event:
        """As the users service would publish it: the envelope's version is the aggregate's (the
        snapshot's own for account events). Account snapshots are what the users stand-in answers
        with, too."""
        if event_type in ("user.registered", "user.updated"):
            self.users.publish(data)
        if version is None:
            version = int(data.get("version", 1))
        event = Event(type=event_type, producer="users", subject=str(subject), version=version, data=data)
        self.raw.portal.call(self.app.state.bus.publish, [event])
        return event

    def _pair_version(self, follower: User, followee: User, version: int | None) -> int:
        key = (follower.id, followee.id)
        self.pair_versions[key] = version if version is not None else self.pair_versions.get(key, 0) + 1
        return self.pair_versions[key]

    def snapshot(self, user: User, **changes: Any) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        return {
            "id": str(user.id),
            "username": user.username,
            "acct": user.username,
            "display_name": changes.get("display_name", ""),
            "note": changes.get("note", ""),
            "note_text": "",
            "url": f"{PUBLIC_URL}/@{user.username}",
            "avatar": f"{PUBLIC_URL}/avatars/{user.id}.png",
            "avatar_static": f"{PUBLIC_URL}/avatars/{user.id}.png",
            "header": f"{PUBLIC_URL}/avatars/header.png",
            "locked": False,
            "bot": changes.get("bot", False),
            "discoverable": False,
            "indexable": False,
            "hide_collections": False,
            "fields": changes.get("fields", []),
            "created_at": now,
            "updated_at": now,
            "version": user.version,
        }

    def register(self, username: str, **profile: Any) -> User:
        user = User(new_id(), username)
        data = {**self.snapshot(user, **profile), "email": f"{username}@example.com", "locale": "en"}
        self.deliver("user.registered", data, user.id)
        return user

    def update_profile(self, user: User, version: int | None = None, **profile: Any) -> None:
        if version is None:
            user.version += 1
            version = user.version
        self.deliver("user.updated", {**self.snapshot(user, **profile), "version": version}, user.id)

    def follow(
        self, follower: User, followee: User, at: datetime | None = None, version: int | None = None
    ) -> None:
        data = {
            "follower_id": str(follower.id),
            "followee_id": str(followee.id),
            "at": (at or datetime.now(UTC)).isoformat(),
            "notify": False,
            "reblogs": True,
            "languages": None,
        }
        subject = follow_subject(follower.id, followee.id)
        self.deliver("user.followed", data, subject, self._pair_version(follower, followee, version))

    def unfollow(
        self, follower: User, followee: User, at: datetime | None = None, version: int | None = None
    ) -> None:
        data = {
            "follower_id": str(follower.id),
            "followee_id": str(followee.id),
            "at": (at or datetime.now(UTC)).isoformat(),
        }
        subject = follow_subject(follower.id, followee.id)
        self.deliver("user.unfollowed", data, subject, self._pair_version(follower, followee, version))

    # -- observing -------------------------------------------------------------------------
    def events(self, event_type: str, count: int = 1, timeout: float = 5.0) -> list[Event]:
        return self.captured.wait(event_type, count, timeout)

    @contextmanager
    def queries(self) -> Iterator[list[str]]:
        """The SQL statements run meanwhile, leaving out the background loops' (outbox relay,
        scheduled publisher)."""
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args) -> None:
            lowered = statement.lower()
            if "outbox" not in lowered and "scheduled_statuses" not in lowered:
                statements.append(statement)

        db = self.app.state.db
        engines = (db.engine, db.read_engine)  # requests that write, and those that only read
        for engine in engines:
            sa_event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            for engine in engines:
                sa_event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path, backend: str) -> str:
    return database_url(request, tmp_path, backend, "posts")


@pytest.fixture
def start_service(db_url: str, users_service: tuple[UsersStandIn, str]):
    """`with start_service(**settings) as posts:` the service with settings of the test's own."""
    users, users_url = users_service
    users.snapshots.clear()
    users.down = False

    @contextmanager
    def start(**overrides: Any) -> Iterator[Posts]:
        settings = {**FAST, "users_url": users_url, **overrides}
        with run_service(create_app, Settings, db_url, **settings) as (client, raw, captured):
            yield Posts(client, raw, captured, users)

    return start


@pytest.fixture
def posts(start_service) -> Iterator[Posts]:
    with start_service() as service:
        yield service


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
