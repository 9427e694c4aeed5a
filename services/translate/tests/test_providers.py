"""The three providers' documented contracts, through the service's real HTTP calls to the local
stand-ins: what is sent, what comes back, and every failure mode turned into a clear answer
(a 503 that says which, within TRANSLATION_TIMEOUT_SECONDS; never a 500). SQLite only: the
database plays no part here."""

from __future__ import annotations

import socket
import time

import pytest

from devstack.translation_providers import DeepL, LibreTranslate, MicrosoftTranslator, fake_translate
from microblog_common.mastodon.text import sanitise

from .conftest import Translate, microsoft_settings, started

GREETING = "<p>Hello world, this is my post</p>"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def translating(sqlite_url, microsoft: MicrosoftTranslator, microsoft_url: str):
    with started(sqlite_url, microsoft, **microsoft_settings(microsoft_url)) as service:
        alice, bob = service.register("alice"), service.register("bob")
        service.post_id = service.post(alice, GREETING)  # type: ignore[attr-defined]
        service.reader = bob  # type: ignore[attr-defined]
        yield service


def _translate(service: Translate, lang: str = "de"):
    return service.translate(service.post_id, service.reader, data={"lang": lang})  # type: ignore[attr-defined]


# -- Microsoft Translator ----------------------------------------------------------------------


def test_microsoft_429_and_5xx_are_retried_with_back_off(
    translating: Translate, microsoft: MicrosoftTranslator
):
    microsoft.fail_next(429)
    microsoft.fail_next(503)
    answer = _translate(translating)
    assert answer.status_code == 200, answer.text
    assert microsoft.calls["/translate"] == 3  # two failures, then the translation


def test_microsoft_honours_retry_after_that_fits_the_deadline(translating: Translate, microsoft):
    microsoft.fail_next(429, headers={"Retry-After": "0"})
    assert _translate(translating).status_code == 200
    microsoft.fail_next(429, headers={"Retry-After": "60"}, times=3)  # longer than the deadline
    started_at = time.monotonic()
    refused = _translate(translating, "fr")
    assert refused.status_code == 503 and "too many requests" in refused.json()["error"]
    assert time.monotonic() - started_at < 2.0  # gave up at once instead of sleeping past the deadline


def test_microsoft_keeps_failing_gives_a_503_that_says_so(translating: Translate, microsoft):
    microsoft.fail_next(503, times=10)
    unavailable = _translate(translating)
    assert unavailable.status_code == 503
    assert unavailable.json() == {
        "error": "The translation provider (Microsoft Translator) is unavailable (HTTP 503)"
    }
    assert microsoft.calls["/translate"] == 3  # one attempt and TRANSLATION_RETRIES (2) more
    microsoft.reset()
    microsoft.fail_next(429, times=10)
    limited = _translate(translating)
    assert limited.status_code == 503 and "refusing more requests" in limited.json()["error"]


def test_microsoft_quota_and_credentials_are_503s_that_say_which(translating: Translate, microsoft):
    microsoft.quota_exhausted = True
    quota = _translate(translating)
    assert quota.status_code == 503 and "quota" in quota.json()["error"]
    assert microsoft.calls["/translate"] == 1  # not retried: the quota won't come back in seconds
    microsoft.reset()
    microsoft.fail_next(500, body={"error": {"code": 500000, "message": "boom"}})
    assert _translate(translating).status_code == 200  # a 5xx is retried


@pytest.mark.parametrize(
    ("key", "region", "why"),
    [("wrong-key", "westeurope", "bad key"), ("microsoft-test-key", None, "regional key without its region")],
)
def test_microsoft_rejected_credentials(sqlite_url, microsoft, microsoft_url, key, region, why):
    settings = {**microsoft_settings(microsoft_url), "microsoft_translator_key": key}
    settings["microsoft_translator_region"] = region
    with started(sqlite_url, microsoft, **settings) as service:
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, GREETING)
        refused = service.translate(status, bob, data={"lang": "de"})
        assert refused.status_code == 503, why
        assert "rejected the configured key" in refused.json()["error"], why
        assert "MICROSOFT_TRANSLATOR_REGION" in refused.json()["error"]
        assert microsoft.calls["/translate"] == 1  # never retried


def test_a_slow_provider_is_a_503_within_the_timeout(sqlite_url, microsoft, microsoft_url):
    with started(
        sqlite_url, microsoft, **microsoft_settings(microsoft_url), translation_timeout_seconds=0.5
    ) as s:
        alice, bob = s.register("alice"), s.register("bob")
        status = s.post(alice, GREETING)
        assert s.translate(status, bob, data={"lang": "de"}).status_code == 200  # languages now cached
        microsoft.delay = 30.0
        started_at = time.monotonic()
        slow = s.translate(status, bob, data={"lang": "fr"})
        waited = time.monotonic() - started_at
        assert slow.status_code == 503
        assert slow.json() == {
            "error": "The translation provider (Microsoft Translator) did not answer within 0.5 seconds"
        }
        assert waited < 5.0  # bounded by the deadline, far from the provider's 30 s


def test_a_provider_that_is_down_is_a_503(sqlite_url, microsoft):
    down = f"http://127.0.0.1:{_closed_port()}"
    with started(sqlite_url, microsoft, **microsoft_settings(down)) as service:
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, GREETING)
        answer = service.translate(status, bob, data={"lang": "de"})
        assert answer.status_code == 503
        assert answer.json() == {
            "error": "The translation provider (Microsoft Translator) could not be reached"
        }
        languages = service.client.get("/api/v1/instance/translation_languages")
        assert languages.status_code == 503
        # The service itself is fine: ready, and its events still flow.
        assert service.raw.get("/health/ready").status_code == 200
        assert service.post(alice, "<p>still here</p>")


def test_texts_over_the_limit_are_split_at_sentences_and_joined(sqlite_url, microsoft, microsoft_url):
    paragraph = "<p>" + " ".join(f"Sentence number {i} is here." for i in range(12)) + "</p>"
    link = '<a href="https://example.com/x" rel="nofollow noopener noreferrer" target="_blank">link</a>'
    content = paragraph + f"<p>A {link} stays.</p>"
    settings = {**microsoft_settings(microsoft_url), "translation_max_characters": 120}
    microsoft.max_characters = 120  # the stand-in refuses bigger requests, as the real one does
    try:
        with started(sqlite_url, microsoft, **settings) as service:
            alice, bob = service.register("alice"), service.register("bob")
            status = service.post(alice, content)
            answer = service.translate(status, bob, data={"lang": "de"})
            assert answer.status_code == 200, answer.text
            sent = [item["Text"] for request in microsoft.translations() for item in request.body]
            assert len(sent) > 3 and all(len(text) <= 120 for text in sent)
            assert all(sum(len(i["Text"]) for i in r.body) <= 120 for r in microsoft.translations())
            # Every part was well-formed HTML and cut between sentences.
            assert all(text.endswith((".", "</p>")) or text.startswith("<p>A") for text in sent)
            translated = answer.json()["content"]
            for i in range(12):
                assert f"sENTENCE NUMBER {i} IS HERE." in translated
            assert translated.count("<p>") == 2 and '<a href="https://example.com/x"' in translated
            # Each part was translated on its own (the stand-in marks the start of each) and the
            # parts joined back in order, with the spaces between sentences.
            assert translated.count("[de] ") == len(sent)
            assert translated.startswith("<p>[de] sENTENCE NUMBER 0 IS HERE. sENTENCE NUMBER 1 IS HERE.")
    finally:
        microsoft.max_characters = 10_000


# -- LibreTranslate ----------------------------------------------------------------------------


def _libre_settings(url: str, key: str = "libre-test-key") -> dict[str, str]:
    return {"libretranslate_url": url, "libretranslate_api_key": key}


def test_libretranslate_translates_as_html_with_its_key(sqlite_url, libre: tuple[LibreTranslate, str]):
    stand_in, url = libre
    with started(sqlite_url, stand_in, **_libre_settings(url)) as service:
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, GREETING, spoiler_text="careful")
        answer = service.translate(status, bob, data={"lang": "de"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["provider"] == "LibreTranslate" and body["language"] == "de"
        assert body["content"] == sanitise(fake_translate(GREETING, "de", markup=True))
        assert body["spoiler_text"] == "[de] CAREFUL"
        [sent] = stand_in.translations()
        assert sent.body == {
            "q": [GREETING, "careful"], "source": "en", "target": "de", "format": "html",
            "api_key": "libre-test-key",
        }  # fmt: skip
        detected = service.post(alice, "<p>Bonjour le monde, merci</p>", language=None)
        body = service.translate(detected, bob, data={"lang": "en"}).json()
        assert body["detected_source_language"] == "fr"
        assert stand_in.translations()[-1].body["source"] == "auto"
        pairs = service.client.get("/api/v1/instance/translation_languages").json()
        assert "de" in pairs["en"] and "en" not in pairs["en"] and "de" in pairs["und"]


def test_libretranslate_refusals(sqlite_url, libre: tuple[LibreTranslate, str]):
    stand_in, url = libre
    with started(sqlite_url, stand_in, **_libre_settings(url, key="wrong")) as service:
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, GREETING)
        refused = service.translate(status, bob, data={"lang": "de"})
        assert refused.status_code == 503
        assert (
            "Invalid API key" in refused.json()["error"]
            and "LIBRETRANSLATE_API_KEY" in refused.json()["error"]
        )
    with started(sqlite_url, stand_in, **_libre_settings(url)) as service:
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, GREETING)
        stand_in.fail_next(429, times=3)
        limited = service.translate(status, bob, data={"lang": "de"})
        assert limited.status_code == 503 and "too many requests" in limited.json()["error"]
        stand_in.fail_next(500)
        assert service.translate(status, bob, data={"lang": "de"}).status_code == 200


# -- DeepL -------------------------------------------------------------------------------------


def _deepl_settings(url: str, key: str = "deepl-test-key:fx") -> dict[str, str]:
    return {"deepl_api_key": key, "deepl_api_url": url}


def test_deepl_translates_with_its_codes(sqlite_url, deepl: tuple[DeepL, str]):
    stand_in, url = deepl
    with started(sqlite_url, stand_in, **_deepl_settings(url)) as service:
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, GREETING)
        answer = service.translate(status, bob, data={"lang": "en-GB"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["provider"] == "DeepL.com" and body["language"] == "en-GB"
        assert body["content"] == sanitise(fake_translate(GREETING, "en-gb", markup=True))
        [sent] = stand_in.translations()
        assert sent.headers["authorization"] == "DeepL-Auth-Key deepl-test-key:fx"
        assert sent.body == {
            "text": [GREETING],
            "target_lang": "EN-GB",
            "tag_handling": "html",
            "source_lang": "EN",
        }
        # Its own language is refused; a variant of it is another language (as on Mastodon).
        assert service.translate(status, bob, data={"lang": "en"}).status_code == 422
        assert service.translate(status, bob, data={"lang": "zh"}).json()["language"] == "zh-Hans"
        german = service.post(alice, "<p>Hallo Welt, danke</p>", language=None)
        assert service.translate(german, bob, data={"lang": "fr"}).json()["detected_source_language"] == "de"
        pairs = service.client.get("/api/v1/instance/translation_languages").json()
        assert {"en", "en-GB", "pt", "pt-BR"} <= set(pairs["und"]) and "en-GB" in pairs["en"]


def test_deepl_quota_and_key(sqlite_url, deepl: tuple[DeepL, str]):
    stand_in, url = deepl
    with started(sqlite_url, stand_in, **_deepl_settings(url)) as service:
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, GREETING)
        stand_in.quota_exhausted = True
        quota = service.translate(status, bob, data={"lang": "de"})
        assert quota.status_code == 503 and "quota (DeepL.com) is used up" in quota.json()["error"]
    with started(sqlite_url, stand_in, **_deepl_settings(url, key="wrong:fx")) as service:
        refused = service.client.get("/api/v1/instance/translation_languages")
        assert refused.status_code == 503 and "DEEPL_API_KEY" in refused.json()["error"]
