"""The notify service on SQLite and on the test session's PostgreSQL, called as the gateway would
(signed identity headers). What the users and posts services would tell it arrives as real events
on its in-process bus, handled by its inbox consumer as in production (`Events`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from microblog_common.contracts.users import follow_subject
from microblog_common.events import Event
from microblog_common.ids import new_id
from microblog_common.testing import ServiceClient, database_url, run_service
from notify.app import create_app
from notify.settings import Settings

PUBLIC_URL = "http://social.example"
FAST: dict[str, Any] = {
    "public_url": PUBLIC_URL,
    "email_backend": "file",
    "email_poll_interval_seconds": 0.1,
    "email_digest_window_seconds": 0,
    "email_retry_base_seconds": 0.2,
    "email_retry_max_seconds": 1.0,
    "stream_heartbeat_seconds": 0.5,
}


class Events:
    """Builds the users and posts services' events (their shared contracts) and delivers them."""

    def __init__(self, raw: Any, app: Any):
        self.raw = raw
        self.app = app
        self.versions: dict[str, int] = {}
        self._names = itertools.count(1)

    def deliver(self, type_: str, subject: str, data: dict[str, Any], *, versioned: bool = True) -> Event:
        version = 1
        if versioned:
            version = self.versions[subject] = self.versions.get(subject, 0) + 1
        event = Event(type=type_, producer="test", subject=subject, version=version, data=data)
        self.raw.portal.call(self.app.state.bus.publish, [event])
        return event

    def account(self, username: str | None = None, *, locale: str = "en", email: str | None = None) -> int:
        account_id = new_id()
        username = username or f"user{next(self._names)}"
        now = datetime.now(UTC)
        data = {
            "id": str(account_id), "username": username, "acct": username, "display_name": username.title(),
            "note": "", "note_text": "", "url": f"{PUBLIC_URL}/@{username}", "avatar": f"{PUBLIC_URL}/a.png",
            "avatar_static": f"{PUBLIC_URL}/a.png", "header": f"{PUBLIC_URL}/h.png", "locked": False,
            "bot": False, "discoverable": True, "indexable": True, "hide_collections": False, "fields": [],
            "created_at": now.isoformat(), "updated_at": now.isoformat(), "version": 1,
            "email": email or f"{username}@example.com", "locale": locale,
        }  # fmt: skip
        self.deliver("user.registered", str(account_id), data)
        return account_id

    def follow(self, follower: int, followee: int, *, notify: bool = False) -> None:
        data = {
            "follower_id": str(follower), "followee_id": str(followee), "at": datetime.now(UTC).isoformat(),
            "notify": notify, "reblogs": True, "languages": None,
        }  # fmt: skip
        self.deliver("user.followed", follow_subject(follower, followee), data)

    def unfollow(self, follower: int, followee: int) -> None:
        data = {
            "follower_id": str(follower),
            "followee_id": str(followee),
            "at": datetime.now(UTC).isoformat(),
        }
        self.deliver("user.unfollowed", follow_subject(follower, followee), data)

    def status(
        self,
        author: int,
        text: str = "hello",
        *,
        visibility: str = "public",
        mentions: tuple[int, ...] = (),
        reply_to: dict[str, Any] | None = None,
        tags: tuple[str, ...] = (),
        publish: bool = True,
    ) -> dict[str, Any]:
        status_id = new_id()
        snapshot = {
            "id": str(status_id), "account_id": str(author), "acct": f"a{author}",
            "url": f"{PUBLIC_URL}/@a/{status_id}", "uri": f"{PUBLIC_URL}/users/a/statuses/{status_id}",
            "text": text, "html": f"<p>{text}</p>", "spoiler_text": "", "sensitive": False,
            "visibility": visibility, "language": "en",
            "in_reply_to_id": reply_to["id"] if reply_to else None,
            "in_reply_to_account_id": reply_to["account_id"] if reply_to else None,
            "mentions": [{"id": str(m), "username": f"u{m}", "acct": f"u{m}", "url": f"{PUBLIC_URL}/@u{m}"}
                         for m in mentions],
            "tags": list(tags), "created_at": datetime.now(UTC).isoformat(), "edited_at": None, "version": 1,
        }  # fmt: skip
        if publish:
            self.deliver("post.published", str(status_id), snapshot)
        return snapshot

    def edit(
        self, snapshot: dict[str, Any], text: str, *, mentions: tuple[int, ...] | None = None
    ) -> dict[str, Any]:
        edited = {
            **snapshot,
            "text": text,
            "html": f"<p>{text}</p>",
            "edited_at": datetime.now(UTC).isoformat(),
        }
        if mentions is not None:
            edited["mentions"] = [
                {"id": str(m), "username": f"u{m}", "acct": f"u{m}", "url": f"{PUBLIC_URL}/@u{m}"}
                for m in mentions
            ]
        edited["version"] = snapshot["version"] + 1
        self.deliver("post.updated", snapshot["id"], edited)
        return edited

    def delete(self, snapshot: dict[str, Any]) -> None:
        data = {**snapshot, "version": snapshot["version"] + 1, "deleted_at": datetime.now(UTC).isoformat()}
        self.deliver("post.deleted", snapshot["id"], data)

    def favourite(self, snapshot: dict[str, Any], by: int) -> None:
        data = {
            "id": str(new_id()), "status_id": snapshot["id"], "status_account_id": snapshot["account_id"],
            "account_id": str(by), "at": datetime.now(UTC).isoformat(), "status": snapshot,
        }  # fmt: skip
        self.deliver("post.favourited", snapshot["id"], data, versioned=False)

    def password_reset(self, account_id: int, username: str, email: str, locale: str = "en") -> str:
        token = f"tok{new_id()}"
        data = {
            "user_id": str(account_id), "username": username, "email": email, "locale": locale,
            "token": token,
            "expires_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
            "reset_url": f"{PUBLIC_URL}/auth/reset?token={token}",
        }  # fmt: skip
        self.deliver("user.password_reset_requested", str(account_id), data, versioned=False)
        return token


class Notify:
    def __init__(self, client: ServiceClient, raw: Any, app: Any):
        self.client = client
        self.raw = raw
        self.app = app
        self.events = Events(raw, app)

    def get(self, path: str, user: int, **kw: Any) -> Any:
        return self.client.get(path, user_id=user, **kw)

    def post(self, path: str, user: int, **kw: Any) -> Any:
        return self.client.post(path, user_id=user, **kw)

    def notifications(self, user: int, **params: Any) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/notifications", user, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def types(self, user: int) -> list[str]:
        return [n["type"] for n in self.notifications(user)]


@contextmanager
def notify_service(
    request: pytest.FixtureRequest, tmp_path: Any, backend: str, **overrides: Any
) -> Iterator[Notify]:
    settings = {**FAST, "mail_dir": tmp_path / "mail", **overrides}
    with run_service(
        create_app, Settings, database_url(request, tmp_path, backend, "notify"), **settings
    ) as (
        client,
        raw,
        _,
    ):
        yield Notify(client, raw, raw.app)


@pytest.fixture
def notify(request: pytest.FixtureRequest, tmp_path: Any, backend: str) -> Iterator[Notify]:
    with notify_service(request, tmp_path, backend) as service:
        yield service
