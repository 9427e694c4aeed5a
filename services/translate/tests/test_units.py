"""Pure logic: splitting HTML at sentence boundaries, language matching, Accept-Language, and the
settings that pick a provider (failing fast when one asked for isn't configured)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from translate.providers import LanguagePairs, build_provider
from translate.providers.deepl import DeepL
from translate.providers.libretranslate import LibreTranslate
from translate.providers.microsoft import MicrosoftTranslator
from translate.settings import DEEPL_FREE_URL, DEEPL_PRO_URL, Settings
from translate.translations import segments
from translate.translations.languages import LanguageMatrix, accept_languages

DB = {"database_url": "sqlite:///unused.db", "event_bus": "memory", "environment": "development"}


def _settings(**values: object) -> Settings:
    return Settings(**DB, **values)  # type: ignore[arg-type]


# -- splitting ---------------------------------------------------------------------------------

POST = (
    '<p>First sentence here. Second one, with a <a href="https://example.com/?a=1&amp;b=2" rel="nofollow">'
    "link</a> inside! Third &amp; last?</p><p>Another paragraph.<br />With a line break.</p>"
)


@pytest.mark.parametrize("limit", [10_000, 80, 40, 20, 8, 3])
def test_split_parts_fit_the_limit_and_join_back(limit: int):
    parts = segments.split(POST, limit, "en")
    assert segments.join(parts, [p.text for p in parts if p.translate]) == POST
    assert all(len(p.text) <= limit for p in parts if p.translate)
    assert all(p.text.strip() == p.text for p in parts if p.translate)  # whitespace kept aside


def test_a_text_within_the_limit_is_one_part():
    assert segments.split(POST, 10_000) == [segments.Part(POST, True)]


def test_split_cuts_between_sentences_and_keeps_tags_whole():
    parts = segments.split(POST, 60, "en")
    sent = [p.text for p in parts if p.translate]
    assert "First sentence here." in sent[0]
    assert all(s.count("<") == s.count(">") for s in sent)  # no tag cut in two
    for part in parts:
        if part.translate:
            # Every part to translate is well-formed on its own.
            assert part.text.count("<a ") == part.text.count("</a>")
            assert part.text.count("<p>") == part.text.count("</p>")
    kept = [p.text for p in parts if not p.translate and p.text.strip()]
    assert set(kept) <= {"<p>", "</p>", '<a href="https://example.com/?a=1&amp;b=2" rel="nofollow">', "</a>"}


def test_split_never_cuts_a_character_reference():
    text = "&amp;" * 30
    parts = segments.split(text, 7)
    assert all(p.text.count("&") == p.text.count(";") for p in parts)
    assert segments.join(parts, [p.text for p in parts if p.translate]) == text


def test_split_in_languages_without_spaces():
    text = "<p>" + "これは文です。" * 20 + "</p>"
    parts = segments.split(text, 30, "ja")
    sent = [p.text for p in parts if p.translate]
    assert all(s.endswith("。") for s in sent) and len(sent) > 1
    assert segments.join(parts, sent) == text


# -- languages ---------------------------------------------------------------------------------


def _matrix(*codes: str) -> LanguageMatrix:
    pairs: dict[str | None, list[str]] = {c: [o for o in codes if o != c] for c in codes}
    pairs[None] = list(codes)
    return LanguageMatrix.from_pairs(LanguagePairs(pairs))


def test_matrix_matches_the_languages_statuses_and_readers_name():
    matrix = _matrix("en", "de", "zh-Hans", "zh-Hant", "nb", "pt", "pt-PT", "sr-Cyrl")
    # A bare language is translated from the variant the provider lists.
    assert matrix.provider_code(matrix.source_of("zh") or "") == "zh-Hans"
    assert matrix.provider_code(matrix.source_of("sr") or "") == "sr-Cyrl"
    assert matrix.source_of("no") == "nb" and matrix.source_of("en-GB") == "en"
    assert matrix.source_of("eo") is None and matrix.source_of(None) is None  # the provider detects
    assert matrix.resolve_target("zh-TW", "en") == "zh-Hant"
    assert matrix.resolve_target("pt-BR", "en") == "pt"
    assert matrix.resolve_target("en", "en") == "en"  # the source itself: recognised, not translated
    assert matrix.resolve_target("tlh", "en") is None
    assert matrix.translates("en", "de") and not matrix.translates("en", "en")
    assert matrix.translates(None, "de")
    assert set(matrix.targets["zh"]) == set(matrix.targets["zh-Hans"])


def test_matrix_in_provider_codes():
    pairs = LanguagePairs({"EN": ["DE", "EN-GB", "ZH-HANS"], None: ["DE", "EN-GB", "ZH-HANS"]})
    matrix = LanguageMatrix.from_pairs(pairs)
    assert matrix.targets["en"] == ("de", "en-GB", "zh-Hans")
    assert matrix.provider_code("en-GB") == "EN-GB" and matrix.provider_code("en") == "EN"
    assert matrix.json.startswith(b'{"en":["de","en-GB","zh-Hans"],"und":')


def test_accept_language():
    assert accept_languages("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5") == ["fr-CH", "fr", "en", "de"]
    assert accept_languages("de;q=0.5, es, it;q=0") == ["es", "de"]
    assert accept_languages("x!y, en;q=abc, ja") == ["ja"]
    assert accept_languages(None) == [] and accept_languages("") == []
    assert len(accept_languages(", ".join(["en"] * 1000))) == 20


# -- settings ----------------------------------------------------------------------------------


def test_no_provider_configured_means_translation_is_off():
    settings = _settings(microsoft_translator_key="", libretranslate_url="  ", deepl_api_key="")
    assert settings.provider is None and build_provider(settings) is None


def test_the_first_configured_provider_serves_unless_one_is_named():
    both = {"libretranslate_url": "http://libre.example", "deepl_api_key": "k"}
    assert isinstance(build_provider(_settings(**both)), LibreTranslate)
    assert isinstance(build_provider(_settings(**both, microsoft_translator_key="k")), MicrosoftTranslator)
    assert isinstance(build_provider(_settings(**both, translation_provider="deepl")), DeepL)


def test_a_named_provider_must_be_configured():
    with pytest.raises(ValidationError, match="TRANSLATION_PROVIDER=deepl needs DEEPL_API_KEY"):
        _settings(translation_provider="deepl", microsoft_translator_key="k")
    with pytest.raises(ValidationError):
        _settings(translation_provider="google")
    with pytest.raises(ValidationError, match="http"):
        _settings(libretranslate_url="libre.example")


def test_deepl_host_follows_the_key():
    assert _settings(deepl_api_key="abc:fx").deepl_base_url == DEEPL_FREE_URL
    assert _settings(deepl_api_key="abc").deepl_base_url == DEEPL_PRO_URL
    assert (
        _settings(deepl_api_key="abc", deepl_api_url="http://127.0.0.1:1/").deepl_base_url
        == "http://127.0.0.1:1"
    )


def test_microsoft_endpoint_defaults_to_the_global_one():
    assert _settings().microsoft_translator_endpoint == "https://api.cognitive.microsofttranslator.com"


# -- the OpenAPI document ----------------------------------------------------------------------


def test_the_document_says_translating_needs_a_token_with_read_access():
    """The gateway merges this into `/api/openapi.json`: clients (and the attack suite, which picks
    the endpoints to attack without a token from it) must see that translating needs one."""
    from translate.app import create_app

    app = create_app(_settings())
    operation = app.openapi()["paths"]["/api/v1/statuses/{status_id}/translate"]["post"]
    assert operation["security"] == [{"bearerAuth": []}, {"oauth2": ["read", "read:statuses"]}]
