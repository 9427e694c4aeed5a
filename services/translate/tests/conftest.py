"""The translate service on SQLite and on the test session's PostgreSQL, called as the gateway
would (signed identity headers), translating through local stand-ins of the providers (real HTTP
servers following each provider's documented contract, `devstack.translation_providers`). What
the posts and users services would tell it arrives as real `post.*`/`user.*` events on its
in-process bus, built with the shared contracts and handled by its inbox consumer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from devstack.translation_providers import DeepL, LibreTranslate, MicrosoftTranslator, StandIn
from microblog_common.contracts.posts import MentionSnapshot, PostDeleted, StatusSnapshot
from microblog_common.contracts.users import UserRegistered, follow_subject
from microblog_common.events import Event
from microblog_common.ids import new_id
from microblog_common.testing import ServiceClient, database_url, run_service, wait_until
from translate.app import create_app
from translate.settings import Settings

PUBLIC_URL = "http://social.example"
MICROSOFT_KEY = "microsoft-test-key"
# Short waits, so failure paths finish quickly.
FAST = {
    "public_url": PUBLIC_URL,
    "translation_timeout_seconds": 2.0,
    "translation_retry_initial_seconds": 0.01,
    "translation_retry_max_seconds": 0.05,
    "translation_languages_retry_seconds": 0.0,
}


@dataclass
class Person:
    id: int
    username: str


class Translate:
    """The service under test, what the other services would publish to it, and the provider."""

    def __init__(self, client: ServiceClient, raw: Any, provider: StandIn | None):
        self.client = client
        self.raw = raw
        self.provider = provider
        self._versions: dict[str, int] = {}

    @property
    def settings(self) -> Settings:
        settings: Settings = self.raw.app.state.settings
        return settings

    # -- events, as the users and posts services publish them ------------------------------

    def deliver(self, event_type: str, data: dict[str, Any], subject: str, version: int) -> None:
        event = Event(type=event_type, producer=event_type.split(".")[0] + "s", subject=subject,
                      version=version, data=data)  # fmt: skip
        self.raw.portal.call(self.raw.app.state.bus.publish, [event])

    def _next_version(self, aggregate: str) -> int:
        self._versions[aggregate] = self._versions.get(aggregate, 0) + 1
        return self._versions[aggregate]

    def register(self, username: str, *, locale: str = "en", default_language: str | None = None) -> Person:
        person = Person(new_id(), username)
        now = datetime.now(UTC)
        data = UserRegistered(
            id=str(person.id), username=username, acct=username, display_name="", note="",
            note_text="", url=f"{PUBLIC_URL}/@{username}", avatar="", avatar_static="", header="",
            locked=False, bot=False, discoverable=True, indexable=True, hide_collections=False,
            fields=[], created_at=now, updated_at=now, version=1, email=f"{username}@example.com",
            locale=locale,
        ).model_dump(mode="json")  # fmt: skip
        if default_language is not None:
            data["default_language"] = default_language
        self.deliver("user.registered", data, str(person.id), self._next_version(f"account:{person.id}"))
        return person

    def follow(self, follower: Person, followee: Person, *, active: bool = True) -> None:
        subject = follow_subject(follower.id, followee.id)
        data: dict[str, Any] = {
            "follower_id": str(follower.id),
            "followee_id": str(followee.id),
            "at": datetime.now(UTC).isoformat(),
        }
        if active:
            data |= {"notify": False, "reblogs": True, "languages": None}
        kind = "user.followed" if active else "user.unfollowed"
        self.deliver(kind, data, subject, self._next_version(f"follow:{subject}"))

    def snapshot(
        self,
        author: Person,
        html: str,
        *,
        status_id: int | None = None,
        visibility: str = "public",
        language: str | None = "en",
        spoiler_text: str = "",
        mentions: tuple[Person, ...] = (),
        version: int = 1,
    ) -> StatusSnapshot:
        status_id = status_id or new_id()
        url = f"{PUBLIC_URL}/@{author.username}/{status_id}"
        return StatusSnapshot(
            id=str(status_id), account_id=str(author.id), acct=author.username, url=url, uri=url,
            text=html, html=html, spoiler_text=spoiler_text, sensitive=bool(spoiler_text),
            visibility=visibility, language=language, in_reply_to_id=None, in_reply_to_account_id=None,
            mentions=[MentionSnapshot(id=str(m.id), username=m.username, acct=m.username,
                                      url=f"{PUBLIC_URL}/@{m.username}") for m in mentions],
            tags=[], created_at=datetime.now(UTC), edited_at=datetime.now(UTC) if version > 1 else None,
            version=version,
        )  # fmt: skip

    def post(self, author: Person, html: str, **kwargs: Any) -> StatusSnapshot:
        """Publishes a status (as posts would) and waits until the service holds it."""
        snapshot = self.snapshot(author, html, **kwargs)
        self.deliver("post.published", snapshot.model_dump(mode="json"), snapshot.id, snapshot.version)
        self.wait_for_status(int(snapshot.id), snapshot.version)
        return snapshot

    @staticmethod
    def edited(snapshot: StatusSnapshot, html: str, **changes: Any) -> StatusSnapshot:
        """The snapshot posts would publish for an edit of `snapshot`."""
        changes = {"html": html, "text": html, "version": snapshot.version + 1, **changes}
        return snapshot.model_copy(update={"edited_at": datetime.now(UTC), **changes})

    def edit(self, snapshot: StatusSnapshot, html: str, **changes: Any) -> StatusSnapshot:
        edited = self.edited(snapshot, html, **changes)
        self.deliver("post.updated", edited.model_dump(mode="json"), edited.id, edited.version)
        self.wait_for_status(int(edited.id), edited.version)
        return edited

    def delete(self, snapshot: StatusSnapshot) -> None:
        gone = PostDeleted(**snapshot.model_dump(), deleted_at=datetime.now(UTC))
        gone = gone.model_copy(update={"version": snapshot.version + 1})
        self.deliver("post.deleted", gone.model_dump(mode="json"), gone.id, gone.version)
        assert wait_until(
            lambda: self.scalar("SELECT count(*) FROM statuses WHERE id = :id", id=int(gone.id)) == 0
        )

    # -- looking at the database ---------------------------------------------------------------

    def scalar(self, sql: str, **params: Any) -> Any:
        engine = self.raw.app.state.db.engine
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def wait_for_status(self, status_id: int, version: int) -> None:
        held = wait_until(
            lambda: self.scalar("SELECT version FROM statuses WHERE id = :id", id=status_id) == version
        )
        assert held, f"status {status_id} v{version} never reached the replica"

    def cached_for(self, status_id: int) -> int:
        return int(self.scalar("SELECT count(*) FROM translations WHERE status_id = :id", id=status_id))

    # -- calls -----------------------------------------------------------------------------

    def translate(
        self,
        status: StatusSnapshot | int | str,
        viewer: Person | None,
        *,
        scopes: str = "read",
        **kwargs: Any,
    ) -> httpx.Response:
        status_id = status.id if isinstance(status, StatusSnapshot) else status
        if viewer is not None:
            kwargs.setdefault("user_id", viewer.id)
            kwargs.setdefault("scopes", scopes)
        return self.client.post(f"/api/v1/statuses/{status_id}/translate", **kwargs)

    def provider_calls(self, path: str = "/translate") -> int:
        assert self.provider is not None
        return sum(n for p, n in self.provider.calls.items() if p.endswith(path))


# -- the provider stand-ins: one server each per test session, reset for every test ----------


@pytest.fixture(scope="session")
def _microsoft_server() -> Iterator[tuple[MicrosoftTranslator, str]]:
    stand_in = MicrosoftTranslator(key=MICROSOFT_KEY, region="westeurope")
    with stand_in.serving() as url:
        yield stand_in, url


@pytest.fixture(scope="session")
def _libre_server() -> Iterator[tuple[LibreTranslate, str]]:
    stand_in = LibreTranslate(api_key="libre-test-key")
    with stand_in.serving() as url:
        yield stand_in, url


@pytest.fixture(scope="session")
def _deepl_server() -> Iterator[tuple[DeepL, str]]:
    stand_in = DeepL(key="deepl-test-key:fx")
    with stand_in.serving() as url:
        yield stand_in, url


@pytest.fixture
def microsoft(_microsoft_server: tuple[MicrosoftTranslator, str]) -> Iterator[MicrosoftTranslator]:
    stand_in, _ = _microsoft_server
    stand_in.reset()
    yield stand_in
    stand_in.reset()


def microsoft_settings(url: str) -> dict[str, Any]:
    return {
        "microsoft_translator_key": MICROSOFT_KEY,
        "microsoft_translator_region": "westeurope",
        "microsoft_translator_endpoint": url,
    }


@pytest.fixture
def microsoft_url(_microsoft_server: tuple[MicrosoftTranslator, str]) -> str:
    return _microsoft_server[1]


@pytest.fixture
def libre(_libre_server: tuple[LibreTranslate, str]) -> Iterator[tuple[LibreTranslate, str]]:
    _libre_server[0].reset()
    yield _libre_server
    _libre_server[0].reset()


@pytest.fixture
def deepl(_deepl_server: tuple[DeepL, str]) -> Iterator[tuple[DeepL, str]]:
    _deepl_server[0].reset()
    yield _deepl_server
    _deepl_server[0].reset()


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Any, backend: str) -> str:
    return database_url(request, tmp_path, backend, "translate")


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    """For tests of the provider side, where the database doesn't matter."""
    return f"sqlite:///{tmp_path / 'translate.db'}"


@contextmanager
def started(db: str, provider: StandIn | None = None, **settings: Any) -> Iterator[Translate]:
    with run_service(create_app, Settings, db, **{**FAST, **settings}) as (client, raw, _):
        yield Translate(client, raw, provider)


@pytest.fixture
def service(db_url: str, microsoft: MicrosoftTranslator, microsoft_url: str) -> Iterator[Translate]:
    """The service on both backends, translating with the Microsoft stand-in."""
    with started(db_url, microsoft, **microsoft_settings(microsoft_url)) as translate:
        yield translate
