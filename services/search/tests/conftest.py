"""The search service in-process, on each index backend: the embedded index (tantivy, always), the
Elasticsearch backend against osmem-server (an OpenSearch-compatible server the test session starts
on loopback) and against a real Elasticsearch whenever ELASTICSEARCH_URL is set.

What the posts and users services would publish arrives as real events on the service's in-process
bus, handled by its inbox consumer; the indexer (a lane task) then writes the index, and `indexed()`
waits until it has."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from microblog_common.contracts.users import follow_subject
from microblog_common.events import Event
from microblog_common.ids import new_id
from microblog_common.testing import ServiceClient, run_service
from search.app import create_app
from search.models import IndexChange, IndexGeneration
from search.settings import Settings

PUBLIC_URL = "http://social.example"
HOST = "social.example"
INDEX_BACKENDS = ("tantivy", "opensearch", "elasticsearch")
# The language analysers osmem-server has (it lacks dutch, arabic, turkish and swedish, which
# Elasticsearch has: test_elasticsearch.py checks the full mapping against a real server only).
OSMEM_LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "ru", "zh", "ja", "ko")


@pytest.fixture(params=INDEX_BACKENDS)
def index_settings(request: pytest.FixtureRequest, tmp_path) -> dict[str, Any]:
    if request.param == "tantivy":
        return {"search_index_dir": tmp_path / "index"}
    prefix = f"t{uuid.uuid4().hex[:12]}"  # the server is shared: each test has its own indexes
    if request.param == "opensearch":
        server = request.getfixturevalue("opensearch_server")
        return {
            "elasticsearch_url": server.url,
            "elasticsearch_plain_json": True,
            "elasticsearch_index_prefix": prefix,
            "elasticsearch_languages": OSMEM_LANGUAGES,
        }
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip("ELASTICSEARCH_URL is not set: no real Elasticsearch to run the suite against")
    return {"elasticsearch_url": url, "elasticsearch_index_prefix": prefix}


@dataclass
class User:
    id: int
    username: str
    display_name: str = ""
    version: int = 1


@dataclass
class Post:
    id: int
    author: User
    data: dict[str, Any]
    version: int = 1


@dataclass
class Search:
    client: ServiceClient
    raw: Any
    pair_versions: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def app(self) -> Any:
        return self.raw.app

    # -- what the users and posts services would publish ------------------------------------
    def deliver(
        self,
        event_type: str,
        data: dict[str, Any],
        subject: int | str,
        version: int = 1,
        producer: str = "posts",
    ) -> None:
        event = Event(type=event_type, producer=producer, subject=str(subject), version=version, data=data)
        self.raw.portal.call(self.app.state.bus.publish, [event])

    def account_snapshot(self, user: User) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        return {
            "id": str(user.id), "username": user.username, "acct": user.username,
            "display_name": user.display_name, "note": "", "note_text": "",
            "url": f"{PUBLIC_URL}/@{user.username}", "avatar": f"{PUBLIC_URL}/avatars/{user.id}.png",
            "avatar_static": f"{PUBLIC_URL}/avatars/{user.id}.png",
            "header": f"{PUBLIC_URL}/avatars/header.png",
            "locked": False, "bot": False, "discoverable": True, "indexable": True, "hide_collections": False,
            "fields": [], "created_at": now, "updated_at": now, "version": user.version,
        }  # fmt: skip

    def register(self, username: str, display_name: str = "") -> User:
        user = User(new_id(), username, display_name)
        data = {**self.account_snapshot(user), "email": f"{username}@example.com", "locale": "en"}
        self.deliver("user.registered", data, user.id, producer="users")
        return user

    def rename(self, user: User, display_name: str) -> None:
        user.display_name, user.version = display_name, user.version + 1
        self.deliver("user.updated", self.account_snapshot(user), user.id, user.version, producer="users")

    def _follow_event(self, kind: str, follower: User, followee: User) -> None:
        key = (follower.id, followee.id)
        self.pair_versions[key] = self.pair_versions.get(key, 0) + 1
        data: dict[str, Any] = {"follower_id": str(follower.id), "followee_id": str(followee.id),
                                "at": datetime.now(UTC).isoformat()}  # fmt: skip
        if kind == "user.followed":
            data |= {"notify": False, "reblogs": True, "languages": None}
        self.deliver(kind, data, follow_subject(follower.id, followee.id), self.pair_versions[key], "users")

    def follow(self, follower: User, followee: User) -> None:
        self._follow_event("user.followed", follower, followee)

    def unfollow(self, follower: User, followee: User) -> None:
        self._follow_event("user.unfollowed", follower, followee)

    def post(
        self,
        author: User,
        text: str,
        *,
        visibility: str = "public",
        language: str | None = "en",
        at: datetime | None = None,
        reply_to: Post | None = None,
        mentions: tuple[User, ...] = (),
        tags: tuple[str, ...] = (),
        sensitive: bool = False,
        spoiler_text: str = "",
    ) -> Post:
        created = at or datetime.now(UTC)
        status_id = new_id(created) if at else new_id()
        data = {
            "id": str(status_id), "account_id": str(author.id), "acct": author.username,
            "url": f"{PUBLIC_URL}/@{author.username}/{status_id}",
            "uri": f"{PUBLIC_URL}/users/{author.username}/statuses/{status_id}",
            "text": text, "html": f"<p>{text}</p>", "spoiler_text": spoiler_text,
            "sensitive": sensitive or bool(spoiler_text), "visibility": visibility, "language": language,
            "in_reply_to_id": str(reply_to.id) if reply_to else None,
            "in_reply_to_account_id": str(reply_to.author.id) if reply_to else None,
            "mentions": [{"id": str(u.id), "username": u.username, "acct": u.username,
                          "url": f"{PUBLIC_URL}/@{u.username}"} for u in mentions],
            "tags": list(tags), "created_at": created.isoformat(), "edited_at": None, "version": 1,
        }  # fmt: skip
        self.deliver("post.published", data, status_id)
        return Post(status_id, author, data)

    def edit(self, post: Post, text: str) -> None:
        post.version += 1
        post.data |= {"text": text, "html": f"<p>{text}</p>", "version": post.version,
                      "edited_at": datetime.now(UTC).isoformat()}  # fmt: skip
        self.deliver("post.updated", post.data, post.id, post.version)

    def delete(self, post: Post) -> None:
        post.version += 1
        data = post.data | {"version": post.version, "deleted_at": datetime.now(UTC).isoformat()}
        self.deliver("post.deleted", data, post.id, post.version)

    def favourite(self, user: User, post: Post, *, undo: bool = False) -> None:
        at = datetime.now(UTC).isoformat()
        base = {
            "status_id": str(post.id),
            "status_account_id": str(post.author.id),
            "account_id": str(user.id),
            "at": at,
        }
        if undo:
            self.deliver("post.unfavourited", base, post.id)
        else:
            self.deliver("post.favourited", base | {"id": str(new_id()), "status": post.data}, post.id)

    # -- observing --------------------------------------------------------------------------
    def pending(self) -> int:
        with self.app.state.db.unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(IndexChange)) or 0)

    def generations(self) -> list[tuple[str, str]]:
        with self.app.state.db.unit_of_work() as session:
            return [
                (g.name, g.state)
                for g in session.scalars(select(IndexGeneration).order_by(IndexGeneration.id))
            ]

    def indexed(self, timeout: float = 10.0) -> None:
        """Waits until the indexer has written everything queued, into a current generation."""
        deadline = time.monotonic() + timeout
        while True:
            if self.pending() == 0 and any(state == "current" for _, state in self.generations()):
                building = [n for n, state in self.generations() if state in ("requested", "building")]
                if not building:
                    return
            assert time.monotonic() < deadline, f"not indexed within {timeout}s ({self.pending()} pending)"
            time.sleep(0.02)

    def search(self, viewer: User | None = None, expect: int = 200, **params: Any) -> Any:
        path = "/api/v2/search"
        kwargs: dict[str, Any] = {"params": params}
        if viewer is not None:
            kwargs["user_id"] = viewer.id
        response = self.client.get(path, **kwargs)
        assert response.status_code == expect, response.text
        return response.json()

    def statuses(self, viewer: User | None = None, **params: Any) -> list[int]:
        return [int(s["id"]) for s in self.search(viewer, type="statuses", **params)["statuses"]]

    def accounts(self, viewer: User | None = None, **params: Any) -> list[str]:
        return [a["username"] for a in self.search(viewer, type="accounts", **params)["accounts"]]


@contextmanager
def start(
    db_url: str, index_settings: dict[str, Any], *, wait: bool = True, **overrides: Any
) -> Iterator[Search]:
    """`wait`: until the first index generation is current (an unreachable index never is)."""
    settings = {"public_url": PUBLIC_URL, "index_poll_interval_seconds": 0.2, **index_settings, **overrides}
    with run_service(create_app, Settings, db_url, **settings) as (client, raw, _):
        service = Search(client, raw)
        if wait:
            service.indexed()
        yield service


@pytest.fixture
def search(tmp_path, index_settings) -> Iterator[Search]:
    """The behaviour suite's service: SQLite (the database is not what these tests are about)."""
    with start(f"sqlite:///{tmp_path / 'search.db'}", index_settings) as service:
        yield service
