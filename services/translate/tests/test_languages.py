"""GET /api/v1/instance/translation_languages and GET /internal/translation: the truth with and
without a provider; the provider's language list fetched once and kept."""

from __future__ import annotations

from devstack.translation_providers import MicrosoftTranslator
from microblog_common.testing import wait_until

from .conftest import microsoft_settings, started


def test_without_a_provider_translation_is_off_everywhere(sqlite_url):
    with started(sqlite_url) as service:
        state = service.client.get("/internal/translation")
        assert state.status_code == 200 and state.json() == {"enabled": False, "provider": None}
        languages = service.client.get("/api/v1/instance/translation_languages")
        assert languages.status_code == 200 and languages.json() == {}
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, "<p>Hello</p>")
        off = service.translate(status, bob, data={"lang": "de"})
        assert off.status_code == 503 and off.json() == {"error": "Translation is not enabled on this server"}


def test_with_microsoft_the_languages_come_from_the_provider_once(sqlite_url, microsoft, microsoft_url):
    with started(sqlite_url, microsoft, **microsoft_settings(microsoft_url)) as service:
        state = service.client.get("/internal/translation")
        assert state.json() == {"enabled": True, "provider": "Microsoft Translator"}
        # Signed calls only, like everything but health and metrics: no client reaches it.
        assert service.raw.get("/internal/translation").status_code == 403

        languages = service.client.get("/api/v1/instance/translation_languages")
        assert languages.status_code == 200
        pairs = languages.json()
        offered = set(MicrosoftTranslator().languages)
        assert set(pairs["und"]) == offered  # a text whose language the provider detects
        assert set(pairs["en"]) == offered - {"en"} and "zh-Hans" in pairs["en"]
        # A status in plain `zh` (as Mastodon tags them) is translated from zh-Hans.
        assert set(pairs["zh"]) == offered - {"zh-Hans"}
        assert languages.headers["cache-control"].startswith("public")
        # No token needed (as Mastodon), and the list is fetched once for many requests.
        for _ in range(3):
            assert service.client.get("/api/v1/instance/translation_languages").json() == pairs
        assert microsoft.calls["/languages"] == 1
        [fetched] = [r for r in microsoft.requests if r.path == "/languages"]
        assert fetched.params == {"api-version": ["3.0"], "scope": ["translation"]}


def test_the_language_list_is_fetched_again_when_old_and_kept_when_the_provider_fails(
    sqlite_url, microsoft, microsoft_url
):
    settings = {**microsoft_settings(microsoft_url), "translation_languages_cache_seconds": 0.2}
    with started(sqlite_url, microsoft, **settings) as service:

        def listed() -> dict[str, list[str]]:
            answer = service.client.get("/api/v1/instance/translation_languages")
            assert answer.status_code == 200, answer.text
            return answer.json()

        assert "ko" not in listed()["en"]
        microsoft.languages = (*microsoft.languages, "ko")
        assert wait_until(lambda: "ko" in listed()["en"], timeout=5)
        fetches = microsoft.calls["/languages"]
        # The provider goes down: the list it gave last goes on serving.
        microsoft.unavailable = True
        assert wait_until(
            lambda: "ko" in listed()["en"] and microsoft.calls["/languages"] > fetches, timeout=5
        )
        assert "ko" in listed()["en"]


def test_without_any_list_the_provider_s_failure_is_a_503(sqlite_url, microsoft, microsoft_url):
    microsoft.unavailable = True
    with started(sqlite_url, microsoft, **microsoft_settings(microsoft_url)) as service:
        answer = service.client.get("/api/v1/instance/translation_languages")
        assert answer.status_code == 503
        assert answer.json() == {
            "error": "The translation provider (Microsoft Translator) is unavailable (HTTP 503)"
        }
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, "<p>Hello</p>")
        assert service.translate(status, bob, data={"lang": "de"}).status_code == 503
        microsoft.unavailable = False
        assert service.translate(status, bob, data={"lang": "de"}).status_code == 200
