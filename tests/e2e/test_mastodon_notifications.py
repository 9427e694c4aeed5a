"""Issue: notify. Mastodon.py, pointed at the gateway, reads notifications made from real events
(follows, mentions, replies, favourites, posts of accounts followed with `notify`, edits) with
filters and paging, dismisses and clears them, counts the unread ones against the markers it sets,
reads them grouped (Mastodon 4.3), and receives them live on `stream_user` over Server-Sent Events
and over the WebSocket, with the home timeline's `update`s. Emails arrive (files in the embedded
mode, an SMTP server in the local one) in the account's language with the unsubscribe headers, the
unsubscribe link turns that type off, and the password-reset link resets the password.
Runs in the embedded mode and over PostgreSQL + RabbitMQ with a process per service."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from typing import Any

import httpx
import pytest
from mastodon import Mastodon, StreamListener

from devstack.mail import bodies
from tests.e2e.conftest import eventually
from tests.e2e.test_mastodon_accounts import PASSWORD, SCOPES, _client

# The bound: a live event reaches an open stream within a second of what caused it.
LIVE_WITHIN = 1.0


@pytest.fixture(scope="module")
def app_credentials(microblog):
    return Mastodon.create_app("e2e-notify", scopes=SCOPES, redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                               api_base_url=microblog.url)  # fmt: skip


def _person(microblog, creds, prefix: str, locale: str = "en") -> tuple[Mastodon, str, str, str]:
    name = f"{prefix}_{int(time.time() * 1000) % 10**8}{len(prefix)}"
    email = f"{name}@example.com"
    api = _client(microblog, creds)
    api.create_account(name, PASSWORD, email, agreement=True, scopes=SCOPES, locale=locale)
    return api, name, api.account_verify_credentials().id, email


class Collector(StreamListener):
    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def on_notification(self, notification: Any) -> None:
        self.events.put(("notification", notification))

    def on_update(self, status: Any) -> None:
        self.events.put(("update", status))

    def next(self, kind: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind} within {timeout}s"
            event, payload = self.events.get(timeout=remaining)
            if event == kind:
                return payload


def test_notifications_filters_paging_dismiss_clear_markers_and_groups(microblog, app_credentials):
    alice, _, alice_id, _ = _person(microblog, app_credentials, "alice")
    fans = [_person(microblog, app_credentials, f"fan{i}") for i in range(3)]
    for fan, *_ in fans:
        fan.account_follow(alice_id)
    bob, _, bob_id, _ = _person(microblog, app_credentials, "bob")
    post = alice.status_post("Hello from alice")
    bob.status_reply(post, "Nice post!")
    bob.status_favourite(post.id)
    fans[0][0].status_favourite(post.id)

    every = eventually(lambda: alice.notifications(limit=40), lambda page: len(page) == 6)
    assert [n.type for n in every].count("follow") == 3
    assert {n.type for n in every} == {"follow", "mention", "favourite"}
    mention = next(n for n in every if n.type == "mention")
    assert mention.account.id == bob_id and mention.status.in_reply_to_id == post.id
    assert [n.type for n in alice.notifications(types=["mention"])] == ["mention"]
    assert all(n.type != "follow" for n in alice.notifications(exclude_types=["follow"]))
    assert [n.account.id for n in alice.notifications(account_id=bob_id, types=["favourite"])] == [bob_id]

    first = alice.notifications(limit=4)
    rest = alice.fetch_next(first)
    assert [n.id for n in first] + [n.id for n in rest] == [n.id for n in every]
    assert alice.notifications(id=mention.id).id == mention.id

    assert alice.notifications_unread_count().count == 6
    alice.markers_set(["notifications"], [every[2].id])
    markers = alice.markers_get(["notifications", "home"])
    assert markers["notifications"].last_read_id == every[2].id and "home" not in markers
    assert alice.notifications_unread_count().count == 2

    grouped = alice.grouped_notifications(grouped_types=["favourite", "follow"])
    kinds = {g.type: g for g in grouped.notification_groups}
    assert kinds["follow"].notifications_count == 3 and kinds["favourite"].notifications_count == 2
    assert kinds["favourite"].status_id == post.id and len(grouped.notification_groups) == 3
    assert alice.unread_grouped_notifications_count() >= 1

    alice.notifications_dismiss(mention.id)
    assert mention.id not in [n.id for n in alice.notifications(limit=40)]
    alice.notifications_clear()
    assert alice.notifications() == []


def test_stream_user_gets_notifications_and_updates_live(microblog, app_credentials):
    alice, _, alice_id, _ = _person(microblog, app_credentials, "alice")
    bob, _, bob_id, _ = _person(microblog, app_credentials, "bob")
    alice.account_follow(bob_id)
    eventually(lambda: bob.notifications(), lambda page: len(page) == 1)  # the follow is everywhere
    listener = Collector()
    handle = alice.stream_user(listener, run_async=True, timeout=10)
    try:
        time.sleep(0.5)  # the stream is open at the service
        carol, _, carol_id, _ = _person(microblog, app_credentials, "carol")
        carol.account_follow(alice_id)
        notification = listener.next("notification", LIVE_WITHIN + 0.5)
        assert notification.type == "follow" and notification.account.id == carol_id
        posted = bob.status_post("Live from bob")
        update = listener.next("update", LIVE_WITHIN)
        assert update.id == posted.id and update.account.id == bob_id
    finally:
        handle.close()


def test_the_websocket_carries_the_same_events(microblog, app_credentials):
    alice, _, alice_id, _ = _person(microblog, app_credentials, "alice")
    bob, _, bob_id, _ = _person(microblog, app_credentials, "bob")
    alice.account_follow(bob_id)
    eventually(lambda: bob.notifications(), lambda page: len(page) == 1)
    listener = Collector()
    socket = alice.stream_open_websocket(listener)
    socket._start()
    try:
        socket.subscribe("user")
        time.sleep(0.5)
        carol, _, carol_id, _ = _person(microblog, app_credentials, "carol")
        carol.account_follow(alice_id)
        assert listener.next("notification", LIVE_WITHIN + 0.5).account.id == carol_id
        posted = bob.status_post("Over the websocket")
        assert listener.next("update", LIVE_WITHIN).id == posted.id
    finally:
        socket.close()


def test_emails_in_the_account_language_with_one_click_unsubscribe(microblog, app_credentials):
    alice, _, alice_id, alice_email = _person(microblog, app_credentials, "alicia", locale="es")
    bob, bob_name, _, _ = _person(microblog, app_credentials, "bob")
    bob.account_follow(alice_id)
    follow_mail = [
        m for m in microblog.mailbox.wait(to=alice_email, count=2) if "seguido" in str(m["Subject"])
    ]
    assert follow_mail, [str(m["Subject"]) for m in microblog.mailbox.received(to=alice_email)]
    message = follow_mail[0]
    text, html = bodies(message)
    assert bob_name in text and bob_name in html and "Hola" in text
    assert message["Content-Language"] == "es"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.fullmatch(r"<(.+)>", str(message["List-Unsubscribe"])).group(1)
    assert link in text
    # A mail client's one-click: a POST, no sign-in.
    answer = httpx.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert answer.status_code == 200
    prefs = httpx.get(
        f"{microblog.url}/api/v1/notifications/email_preferences",
        headers={"Authorization": f"Bearer {alice.access_token}"},
        timeout=10,
    ).json()
    assert prefs == {"follow": False, "mention": True, "favourite": False}


def test_the_password_reset_email_link_resets_the_password(microblog, app_credentials):
    _, name, _, email = _person(microblog, app_credentials, "forgetful")
    assert (
        httpx.post(
            f"{microblog.url}/api/v1/auth/password_reset", json={"email": email}, timeout=10
        ).status_code
        == 202
    )
    mails = microblog.mailbox.wait(to=email, count=2)
    reset = next(m for m in mails if "password" in str(m["Subject"]).lower())
    text, html = bodies(reset)
    url = re.search(r"(http\S+/auth/reset\?token=[\w\-]+)", text).group(1)
    assert url in html
    token = url.split("token=", 1)[1]
    confirmed = httpx.post(
        f"{microblog.url}/api/v1/auth/password_reset/confirm",
        json={"token": token, "password": "a brand new passphrase"},
        timeout=10,
    )
    assert confirmed.status_code == 200, confirmed.text
    again = _client(microblog, app_credentials)
    again.log_in(email, "a brand new passphrase", scopes=SCOPES, allow_http=True)
    assert again.account_verify_credentials().username == name


class SignedStream:
    """A stream opened straight at one notify replica, signed as the gateway signs (the second
    replica has no gateway of its own here); its events collected by a thread."""

    def __init__(self, stack, base_url: str, path: str, user_id: str):
        from microblog_common.internal_auth import (
            HEADER_CLIENT_IP,
            HEADER_SCOPES,
            HEADER_TOKEN_ID,
            HEADER_USER_ID,
            sign_request,
        )

        identity = {HEADER_USER_ID: user_id, HEADER_SCOPES: "read", HEADER_TOKEN_ID: "e2e-" + user_id,
                    HEADER_CLIENT_IP: "127.0.0.1"}  # fmt: skip
        self.headers = sign_request(stack.internal_secret, "GET", path, identity)
        self.url = base_url + path
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(10.0, read=60.0))
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.opened.wait(10), "the stream did not open"

    def _read(self) -> None:
        try:
            with self.client.stream("GET", self.url, headers=self.headers) as response:
                assert response.status_code == 200, response.read()
                event = None
                for line in response.iter_lines():
                    if line == ":)":
                        self.opened.set()
                    elif line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: ") and event:
                        self.events.put((event, json.loads(line.removeprefix("data: "))))
        except (httpx.HTTPError, RuntimeError):
            pass

    def next(self, kind: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            event, payload = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event == kind:
                return payload

    def close(self) -> None:
        self.client.close()


def test_two_notify_replicas_each_get_every_event(microblog, app_credentials):
    """Each replica has its own exclusive queue: a client on either gets the events."""
    if microblog.stack is None:
        pytest.skip("replicas run in the local-processes mode (RabbitMQ)")
    second = microblog.stack.start_replica("notify")
    alice, _, alice_id, _ = _person(microblog, app_credentials, "alice")
    bob, _, bob_id, _ = _person(microblog, app_credentials, "bob")
    alice.account_follow(bob_id)
    eventually(lambda: bob.notifications(), lambda page: len(page) == 1)
    on_first = Collector()
    handle = alice.stream_user(on_first, run_async=True, timeout=10)  # through the gateway: replica 1
    on_second = SignedStream(microblog.stack, second, "/api/v1/streaming/user", alice_id)
    try:
        time.sleep(0.5)
        carol, _, carol_id, _ = _person(microblog, app_credentials, "carol")
        carol.account_follow(alice_id)
        assert on_first.next("notification", 5).account.id == carol_id
        assert on_second.next("notification", 5)["account"]["id"] == carol_id
        posted = bob.status_post("To every replica")
        assert on_first.next("update", 5).id == posted.id
        assert on_second.next("update", 5)["id"] == posted.id
    finally:
        handle.close()
        on_second.close()
