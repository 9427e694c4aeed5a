"""Issue: translate. The Mastodon.py library, pointed at the gateway, translates statuses
(`status_translate`) through the translate service and a local stand-in of Microsoft Translator
(a real HTTP server following its documented v3 contract, counting the calls it gets): the
Translation entity; a second request for the same text, from any status, doesn't reach the
provider; an edited status is translated anew; private and direct statuses can't be translated by
anyone who can't see them; the language list and the instance tell the truth with and without a
provider; a provider that is down, slow or out of quota is a clear 503 within the deadline while
posting, timelines and search go on. Runs in the embedded mode and over PostgreSQL + RabbitMQ
with a process per service (the microblog without a provider: embedded mode only). The gateway's
instance reads the translate service's GET /internal/translation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonNotFoundError, MastodonServiceUnavailableError

from devstack.embedded_process import EmbeddedProcess
from devstack.mail import MailFolder
from devstack.translation_providers import MicrosoftTranslator
from tests.e2e.conftest import E2E_GATEWAY_ENV, EVENTUAL, Microblog, eventually
from tests.e2e.test_mastodon_accounts import SCOPES, _register


@pytest.fixture(scope="module")
def app_credentials(microblog: Microblog) -> tuple[str, str]:
    return Mastodon.create_app(
        "e2e-translate", scopes=SCOPES, redirect_uris="urn:ietf:wg:oauth:2.0:oob", api_base_url=microblog.url
    )


@pytest.fixture
def stand_in(translator: tuple[MicrosoftTranslator, str]) -> Iterator[MicrosoftTranslator]:
    translator[0].reset()
    yield translator[0]
    translator[0].reset()


def _person(microblog: Microblog, creds: tuple[str, str], prefix: str) -> tuple[Mastodon, str]:
    api, _ = _register(microblog, creds, prefix)
    return api, api.account_verify_credentials().id


def translated(api: Mastodon, status_id: str, lang: str | None = "de", timeout: float = EVENTUAL) -> Any:
    """The translation, once the status has reached the translate service (a 404 until then)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return api.status_translate(status_id, lang=lang)
        except MastodonNotFoundError:
            assert time.monotonic() < deadline, f"status {status_id} never became translatable"
            time.sleep(0.2)


def test_status_translate_with_the_cache_and_edits(microblog, app_credentials, stand_in):
    alice, _ = _person(microblog, app_credentials, "alice")
    bob, _ = _person(microblog, app_credentials, "bob")
    carol, _ = _person(microblog, app_credentials, "carol")
    text = f"Hello #world, this is my post {uuid.uuid4().hex[:6]} with a link https://example.com/page"
    posted = alice.status_post(text, language="en", spoiler_text="A warning")

    translation = translated(bob, posted.id, "de")
    assert translation.provider == "Microsoft Translator"
    assert translation.detected_source_language == "en" and translation.language == "de"
    assert translation.spoiler_text == "[de] a WARNING"
    assert translation.poll is None and translation.media_attachments == []
    # Translated as HTML: the hashtag and the link are still links.
    assert "[de] hELLO" in translation.content and 'href="https://example.com/page"' in translation.content
    assert "/tags/world" in translation.content
    [sent] = stand_in.translations()
    assert (
        sent.params["textType"] == ["html"] and sent.headers["ocp-apim-subscription-region"] == "westeurope"
    )

    # The same text again, and the same text in another status: from the cache.
    assert bob.status_translate(posted.id, lang="de").content == translation.content
    copy = carol.status_post(text, language="en", spoiler_text="A warning")
    assert translated(alice, copy.id, "de").content == translation.content
    assert stand_in.calls["/translate"] == 1

    # An edit is translated anew.
    # Its own words (the session's stack keeps its cache: a rerun must not find them translated).
    alice.status_update(posted.id, f"Completely new words after the edit {uuid.uuid4().hex[:6]}",
                        spoiler_text="A warning")  # fmt: skip
    edited = eventually(
        lambda: bob.status_translate(posted.id, lang="de"), lambda t: "NEW WORDS AFTER THE EDIT" in t.content
    )
    assert "cOMPLETELY NEW WORDS AFTER THE EDIT" in edited.content
    assert stand_in.calls["/translate"] == 2, [r.body for r in stand_in.translations()]


def test_the_reader_s_language_and_the_language_list(microblog, app_credentials, stand_in):
    alice, _ = _person(microblog, app_credentials, "alice")
    reader = Mastodon(access_token=alice.access_token, api_base_url=microblog.url, lang="fr")
    posted = alice.status_post("Hello world from here", language="en")
    # No `lang`: the request's language (Mastodon.py sends it as `lang` when given one).
    assert translated(reader, posted.id, None).language == "fr"
    own = None
    try:
        alice.status_translate(posted.id, lang="en")
    except MastodonAPIError as exc:
        own = exc
    assert own is not None and own.args[1] == 422  # the status's own language

    languages = alice.instance_translation_languages()
    assert "de" in languages["en"] and "en" not in languages["en"] and "de" in languages["und"]
    instance = httpx.get(microblog.url + "/api/v2/instance", timeout=10).json()
    assert instance["configuration"]["translation"] == {"enabled": True}


def test_private_and_direct_statuses(microblog, app_credentials, stand_in):
    author, author_id = _person(microblog, app_credentials, "author")
    follower, _ = _person(microblog, app_credentials, "fan")
    friend, _ = _person(microblog, app_credentials, "friend")
    stranger, _ = _person(microblog, app_credentials, "stranger")
    follower.account_follow(author_id)
    friend_name = friend.account_verify_credentials().acct
    private = author.status_post("Only for my followers", visibility="private")
    direct = author.status_post(f"@{friend_name} only for you", visibility="direct")

    def status_of(api: Mastodon, status_id: str) -> int:
        try:
            api.status_translate(status_id, lang="de")
        except MastodonNotFoundError:
            return 404
        except MastodonAPIError as exc:
            return int(exc.args[1])
        return 200

    # 403 for those who may see it (never translated, as Mastodon), 404 for everyone else.
    assert eventually(lambda: status_of(follower, private.id), lambda code: code == 403) == 403
    assert status_of(author, private.id) == 403
    assert status_of(stranger, private.id) == 404
    assert eventually(lambda: status_of(friend, direct.id), lambda code: code == 403) == 403
    assert status_of(follower, direct.id) == 404 and status_of(stranger, direct.id) == 404
    anonymous = httpx.post(f"{microblog.url}/api/v1/statuses/{private.id}/translate", timeout=10)
    assert anonymous.status_code == 401
    assert stand_in.calls["/translate"] == 0


def test_a_failing_provider_is_a_clear_503_and_the_rest_goes_on(microblog, app_credentials, stand_in):
    alice, alice_id = _person(microblog, app_credentials, "alice")
    bob, _ = _person(microblog, app_credentials, "bob")
    bob.account_follow(alice_id)
    posted = alice.status_post(f"Hello world, a post to translate {uuid.uuid4().hex[:6]}", language="en")
    search_before = httpx.get(
        f"{microblog.url}/api/v2/search", params={"q": "hello"}, headers=_bearer(bob), timeout=10
    ).status_code
    translated(bob, posted.id, "de")  # the status is there, and the language list is cached

    for failure, expected in (
        ("unavailable", "is unavailable (HTTP 503)"),
        ("quota", "quota (Microsoft Translator) is used up"),
        ("slow", "did not answer within 2 seconds"),
    ):
        stand_in.reset()
        if failure == "unavailable":
            stand_in.unavailable = True
        elif failure == "quota":
            stand_in.quota_exhausted = True
        else:
            stand_in.delay = 30.0
        started = time.monotonic()
        with pytest.raises(MastodonServiceUnavailableError) as refused:
            bob.status_translate(posted.id, lang="fr")
        assert expected in str(refused.value), failure
        assert time.monotonic() - started < 10, failure  # the deadline, not the provider's 30 s

        # Meanwhile posting, timelines and search work as before.
        new_id = alice.status_post(f"Still posting while translation fails ({failure})").id
        eventually(lambda: [s.id for s in bob.timeline_home(limit=5)], lambda ids, n=new_id: n in ids)
        assert new_id in [s.id for s in alice.timeline_public(limit=5)]
        search = httpx.get(
            f"{microblog.url}/api/v2/search", params={"q": "hello"}, headers=_bearer(bob), timeout=10
        )
        assert search.status_code == search_before and search.status_code < 500

    stand_in.reset()
    assert bob.status_translate(posted.id, lang="fr").language == "fr"  # back once it is


def _bearer(api: Mastodon) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.access_token}"}


# -- a microblog without a provider -----------------------------------------------------------


@pytest.fixture(scope="module")
def untranslated(tmp_path_factory) -> Iterator[Microblog]:
    """The embedded mode with no translation provider configured."""
    env = {**E2E_GATEWAY_ENV, "LANGUAGE_LOW_ACCURACY": "true"}  # posts ready at once: not under test here
    data = tmp_path_factory.mktemp("untranslated") / "data"
    with EmbeddedProcess(data, env=env) as run:
        yield Microblog("embedded", run.gateway_url, run.database_urls, MailFolder(data / "mail"))


def test_without_a_provider_translation_is_off(untranslated):
    creds = Mastodon.create_app("e2e-off", scopes=SCOPES, redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                                api_base_url=untranslated.url)  # fmt: skip
    alice, _ = _person(untranslated, creds, "alice")
    posted = alice.status_post("Hello world", language="en")
    assert alice.instance_translation_languages() == {}
    with pytest.raises(MastodonServiceUnavailableError, match="Translation is not enabled on this server"):
        alice.status_translate(posted.id, lang="de")


def test_without_a_provider_the_instance_says_translation_is_off(untranslated):
    instance = httpx.get(untranslated.url + "/api/v2/instance", timeout=10).json()
    assert instance["configuration"]["translation"] == {"enabled": False}
