"""The live streams on a real uvicorn server (the service's own app, in-process bus): the wire
format Mastodon's clients read, who gets which event, refusals, and a slow client dropped while
the others keep receiving."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from devstack.servers import free_port
from microblog_common.events.memory import MemoryBus
from microblog_common.internal_auth import (
    HEADER_CLIENT_IP,
    HEADER_SCOPES,
    HEADER_TOKEN_ID,
    HEADER_USER_ID,
    sign_request,
)
from microblog_common.testing import TEST_SECRET, database_url, wait_until
from notify.app import create_app
from notify.settings import Settings

from .conftest import FAST, Events

pytestmark = pytest.mark.timeout(60)


class Served:
    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop, url: str):
        self.app = app
        self.loop = loop
        self.url = url
        self.events = Events(self, app)
        # `Events` delivers through `raw.portal.call(fn, events)`: the same on the server's loop.
        self.portal = self

    def call(self, fn: Any, *args: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(fn(*args), self.loop).result(10)

    def headers(self, path: str, user: int, scopes: str = "read") -> dict[str, str]:
        identity = {HEADER_USER_ID: str(user), HEADER_SCOPES: scopes, HEADER_TOKEN_ID: f"t{user}",
                    HEADER_CLIENT_IP: "127.0.0.1"}  # fmt: skip
        return sign_request(TEST_SECRET, "GET", path, identity)


@contextmanager
def served(request: pytest.FixtureRequest, tmp_path: Any, **overrides: Any) -> Iterator[Served]:
    settings = Settings(
        database_url=database_url(request, tmp_path, "sqlite", "notify"),
        event_bus="memory", migrate_on_start=True, environment="test", internal_secret=TEST_SECRET,
        log_json=False, **{**FAST, "mail_dir": tmp_path / "mail", **overrides},
    )  # fmt: skip
    bus = MemoryBus()
    app = create_app(settings, bus=bus)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(bus.start())
    thread = threading.Thread(target=lambda: loop.run_until_complete(server.serve()), daemon=True)
    thread.start()
    assert wait_until(lambda: server.started, timeout=20)
    try:
        yield Served(app, loop, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(15)


class Reader:
    """An SSE stream read by a thread: raw lines and parsed events."""

    def __init__(self, served: Served, path: str, user: int, scopes: str = "read"):
        self.lines: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.status: int | None = None
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=30))
        headers = served.headers(path, user, scopes)
        self.thread = threading.Thread(target=self._run, args=(served.url + path, headers), daemon=True)
        self.thread.start()
        assert wait_until(lambda: self.status is not None and (self.lines or self.status != 200), timeout=10)

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type")
                event = None
                for line in response.iter_lines():
                    self.lines.append(line)
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event:
                        self.events.append((event, line[6:]))
        except httpx.HTTPError:
            pass

    def of(self, kind: str) -> list[Any]:
        return [
            json.loads(data) if kind != "delete" else data for event, data in self.events if event == kind
        ]

    def close(self) -> None:
        self.client.close()


def test_sse_wire_format_and_who_gets_what(request, tmp_path):
    with served(request, tmp_path) as s:
        ev = s.events
        alice, bob, carol, dana = ev.account(), ev.account(), ev.account(), ev.account()
        ev.follow(alice, bob)
        home = Reader(s, "/api/v1/streaming/user", alice)
        carols = Reader(s, "/api/v1/streaming/user", carol)
        public = Reader(s, "/api/v1/streaming/public", dana)
        tag = Reader(s, "/api/v1/streaming/hashtag?tag=Python", dana)
        notes = Reader(s, "/api/v1/streaming/user/notification", alice)
        assert home.status == 200 and home.content_type == "text/event-stream" and home.lines[0] == ":)"
        post = ev.status(bob, "hello #python", tags=("python",))
        private = ev.status(bob, "followers only", visibility="private")
        ev.status(carol, "a reply to someone alice doesn't follow", reply_to=ev.status(dana, "q"))
        assert wait_until(lambda: len(home.of("update")) == 2)
        assert [u["id"] for u in home.of("update")] == [post["id"], private["id"]]
        assert (
            home.of("update")[0]["account"]["id"] == str(bob) and home.of("update")[0]["favourited"] is False
        )
        assert wait_until(lambda: len(tag.of("update")) == 1) and tag.of("update")[0]["id"] == post["id"]
        assert wait_until(
            lambda: len(public.of("update")) == 2
        )  # bob's and dana's: carol's is a reply to someone else
        assert private["id"] not in [u["id"] for u in public.of("update")]
        ev.edit(post, "edited #python")
        assert wait_until(lambda: home.of("status.update"))
        ev.delete(post)
        assert wait_until(lambda: post["id"] in home.of("delete") and post["id"] in public.of("delete"))
        assert f"data: {post['id']}" in home.lines  # a delete's data is the bare id
        ev.follow(carol, alice)
        assert wait_until(lambda: notes.of("notification") and home.of("notification"))
        assert notes.of("notification")[0]["type"] == "follow" and notes.of("update") == []
        assert carols.of("update") == [] or all(u["account"]["id"] == str(carol) for u in carols.of("update"))
        assert wait_until(lambda: ":thump" in home.lines, timeout=3)  # heartbeats after quiet
        for reader in (home, carols, public, tag, notes):
            reader.close()


def test_refusals(request, tmp_path):
    with served(request, tmp_path) as s:
        alice = s.events.account()
        health = httpx.get(
            s.url + "/api/v1/streaming/health", headers=s.headers("/api/v1/streaming/health", alice)
        )
        assert health.text == "OK" and health.headers["content-type"].startswith("text/plain")
        unknown = httpx.get(
            s.url + "/api/v1/streaming/nope", headers=s.headers("/api/v1/streaming/nope", alice)
        )
        assert unknown.status_code == 400 and unknown.json() == {"error": "Unknown channel requested"}
        no_tag = httpx.get(
            s.url + "/api/v1/streaming/hashtag", headers=s.headers("/api/v1/streaming/hashtag", alice)
        )
        assert no_tag.status_code == 400
        path = "/api/v1/streaming/user/notification"
        scoped = httpx.get(s.url + path, headers=s.headers(path, alice, scopes="read:statuses"))
        assert scoped.status_code == 401
        anonymous = httpx.get(s.url + path, headers=sign_request(TEST_SECRET, "GET", path, {}))
        assert anonymous.status_code == 401


def test_a_slow_client_is_dropped_and_never_holds_up_the_others(request, tmp_path):
    with served(request, tmp_path, stream_queue_size=20) as s:
        ev = s.events
        watcher, author = ev.account(), ev.account()
        path = "/api/v1/streaming/public"
        slow = socket.create_connection(("127.0.0.1", int(s.url.rsplit(":", 1)[1])))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request_lines = [
            f"GET {path} HTTP/1.1",
            "Host: x",
            *(f"{k}: {v}" for k, v in s.headers(path, watcher).items()),
        ]
        slow.sendall(("\r\n".join(request_lines) + "\r\n\r\n").encode())  # ... and never reads
        fast = Reader(s, path, watcher)
        hub = s.app.state.runtime.hub
        assert wait_until(lambda: len(hub.connections) == 2)
        big = "x" * 20_000
        last = None
        for _ in range(300):
            last = ev.status(author, big)
            if hub.dropped_slow:
                break
        assert wait_until(lambda: hub.dropped_slow == 1, timeout=20)
        assert wait_until(lambda: last["id"] in [u["id"] for u in fast.of("update")], timeout=20)
        assert len(hub.connections) == 1
        slow.close()
        fast.close()


def test_the_websocket_protocol(request, tmp_path):
    from websockets.sync.client import connect

    with served(request, tmp_path) as s:
        ev = s.events
        alice, bob = ev.account(), ev.account()
        ev.follow(alice, bob)
        path = "/api/v1/streaming?stream=user"
        ws_url = s.url.replace("http", "ws") + path
        with connect(ws_url, additional_headers=s.headers(path, alice)) as ws:
            ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "Fun"}))
            ws.send(json.dumps({"type": "subscribe", "stream": "list", "list": "1"}))
            error = json.loads(ws.recv(timeout=5))
            assert error["status"] == 401 and error["error"] == "List not found"
            time.sleep(0.3)
            post = ev.status(bob, "#fun", tags=("fun",))
            frames = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
            streams = sorted(tuple(f["stream"]) for f in frames)
            assert streams == [("hashtag", "Fun"), ("user",)]
            assert all(
                f["event"] == "update" and json.loads(f["payload"])["id"] == post["id"] for f in frames
            )
            ws.send(json.dumps({"type": "unsubscribe", "stream": "hashtag", "tag": "fun"}))
            time.sleep(0.3)
            ev.delete(post)
            frame = json.loads(ws.recv(timeout=5))
            assert frame == {"stream": ["user"], "event": "delete", "payload": post["id"]}
            ws.send(b"\x00binary")
            with pytest.raises(Exception):  # noqa: B017 - closed with 1003
                ws.recv(timeout=5)
            assert ws.close_code == 1003
        unsigned = s.url.replace("http", "ws") + "/api/v1/streaming"
        with pytest.raises(Exception):  # noqa: B017 - 401 before the upgrade
            connect(unsigned, additional_headers=sign_request(TEST_SECRET, "GET", "/api/v1/streaming", {}))


def test_no_activity_email_while_a_live_stream_is_open(request, tmp_path):
    """Mastodon's rule: someone watching their stream sees it there; no email."""
    with served(request, tmp_path, email_digest_window_seconds=0) as s:
        ev = s.events
        alice = ev.account("alice")
        mail = tmp_path / "mail"
        watching = Reader(s, "/api/v1/streaming/user/notification", alice)
        ev.follow(ev.account(), alice)
        assert wait_until(lambda: watching.of("notification"))
        time.sleep(1.0)  # the sender would have sent it by now
        assert not list(mail.glob("*-follow.eml"))
        watching.close()
        hub = s.app.state.runtime.hub
        assert wait_until(lambda: not hub.connections, timeout=10)
        ev.follow(ev.account(), alice)
        assert wait_until(lambda: list(mail.glob("*-follow.eml")), timeout=10)


def test_presence_rows_follow_who_is_watching(request, tmp_path):
    """An account counts as watching here (no activity email) from the moment it subscribes to its
    user stream until it unsubscribes or leaves; each refresh renews this replica's rows in place."""
    from sqlalchemy import select
    from websockets.sync.client import connect

    from notify.models import StreamPresence

    with served(request, tmp_path, stream_presence_refresh_seconds=0.3) as s:
        alice, bob = s.events.account(), s.events.account()
        db = s.app.state.runtime.hub.db

        def rows() -> dict[int, Any]:
            with db.read_only() as session:
                return dict(
                    session.execute(select(StreamPresence.account_id, StreamPresence.expires_at)).all()
                )

        path = "/api/v1/streaming?stream=user"
        with connect(s.url.replace("http", "ws") + path, additional_headers=s.headers(path, alice)) as ws:
            reader = Reader(s, "/api/v1/streaming/user", bob)
            assert wait_until(lambda: set(rows()) == {alice, bob}, timeout=10)
            first = rows()
            assert wait_until(lambda: all(rows()[a] > first[a] for a in (alice, bob)), timeout=10)
            ws.send(json.dumps({"type": "unsubscribe", "stream": "user"}))
            assert wait_until(lambda: set(rows()) == {bob}, timeout=10)
            ws.send(json.dumps({"type": "subscribe", "stream": "user"}))
            assert wait_until(lambda: set(rows()) == {alice, bob}, timeout=10)
            reader.close()
            assert wait_until(lambda: set(rows()) == {alice}, timeout=10)
        assert wait_until(lambda: not rows(), timeout=10)
