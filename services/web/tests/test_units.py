"""Pure rules of the web UI: where `?next=` may lead, which language a page is in, what of the
API's HTML survives, which posts get a Translate button, scheduled times, the catalogues."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from web import i18n
from web.page import safe_next
from web.pages.compose import scheduled_time
from web.rendering import api_html, translatable
from web.security import content_security_policy

WEB = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/@alice/1", "/@alice/1"),
        ("/search?q=x&type=statuses", "/search?q=x&type=statuses"),
        (None, "/home"),
        ("", "/home"),
        ("https://evil.example/", "/home"),
        ("//evil.example/x", "/home"),
        ("/\\evil.example", "/home"),
        ("http:/evil.example", "/home"),
        ("javascript:alert(1)", "/home"),
        ("relative/path", "/home"),
        ("/ok\r\nSet-Cookie: x=1", "/home"),
        ("/\tx", "/home"),
    ],
)
def test_next_is_honoured_only_for_local_paths(value, expected):
    assert safe_next(value) == expected


def test_the_browser_language_is_negotiated():
    catalogues = i18n.Catalogues()
    assert catalogues.negotiate("es-ES,es;q=0.9,en;q=0.8") == "es"
    assert catalogues.negotiate("fr-FR, es;q=0.5, en;q=0.7") == "en"
    assert catalogues.negotiate("fr-FR, es;q=0.9, en;q=0.7") == "es"
    assert catalogues.negotiate("de") == "en"
    assert catalogues.negotiate(None) == "en"
    assert catalogues.negotiate("es;q=0, en;q=0") == "en"


def test_pages_say_things_in_the_chosen_language():
    i18n.install(i18n.Catalogues())
    with i18n.using("es"):
        assert i18n.gettext("Sign in") == "Iniciar sesión"
        assert i18n.ngettext("%(num)d result", "%(num)d results", 3) == "3 resultados"
        assert i18n.relative_time("2000-01-01T00:00:00Z").startswith("hace ")
    with i18n.using("en"):
        assert i18n.gettext("Sign in") == "Sign in"
        assert i18n.language_name("es") == "Spanish"


def test_every_message_has_its_spanish_translation(tmp_path):
    """The catalogue is complete: every message the templates and code use is translated."""
    template = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(WEB / "babel.cfg"),
         "-k", "plural_forms:1,2", "--no-location", "-o", str(template), str(WEB / "src" / "web")],
        check=True, capture_output=True,
    )  # fmt: skip
    with template.open("rb") as source:
        wanted = {message.id for message in read_po(source) if message.id}
    catalogue_path = WEB / "src/web/translations/es/LC_MESSAGES/messages.po"
    with catalogue_path.open("rb") as source:
        spanish = read_po(source, locale="es")
    missing = [
        message_id
        for message_id in wanted
        if spanish.get(message_id) is None
        or not all(
            spanish.get(message_id).string
            if isinstance(message_id, tuple)
            else [spanish.get(message_id).string]
        )
    ]
    assert not missing, f"untranslated in es: {missing[:10]}"


def test_only_safe_html_from_the_api_is_shown():
    shown = str(
        api_html(
            '<p>Hi <a href="https://x.example/" class="mention">@x</a><script>alert(1)</script>'
            '<img src=x onerror=alert(1)><a href="javascript:alert(1)">y</a><mark>z</mark></p>'
        )
    )
    assert (
        "<script" not in shown
        and "onerror" not in shown
        and "javascript:" not in shown
        and "<img" not in shown
    )
    assert '<a href="https://x.example/" class="mention" rel="nofollow noopener noreferrer">@x</a>' in shown
    assert "<mark>z</mark>" in shown
    assert str(api_html(None)) == ""


@pytest.mark.parametrize(
    ("status", "locale", "enabled", "expected"),
    [
        ({"language": "es", "visibility": "public", "content": "<p>hola</p>"}, "en", True, True),
        ({"language": "es-MX", "visibility": "unlisted", "content": "<p>hola</p>"}, "en", True, True),
        ({"language": "en", "visibility": "public", "content": "<p>hi</p>"}, "en", True, False),
        ({"language": None, "visibility": "public", "content": "<p>?</p>"}, "en", True, False),
        ({"language": "es", "visibility": "private", "content": "<p>hola</p>"}, "en", True, False),
        ({"language": "es", "visibility": "public", "content": "<p>hola</p>"}, "en", False, False),
        ({"language": "es", "visibility": "public", "content": "<p>hola</p>"}, "es", True, False),
    ],
)
def test_which_posts_get_a_translate_button(status, locale, enabled, expected):
    assert translatable(status, locale, enabled) is expected


def test_a_scheduled_time_is_read_in_the_writers_time_zone():
    assert scheduled_time("2030-01-15T09:30", "Europe/Madrid") == "2030-01-15T08:30:00+00:00"
    assert scheduled_time("2030-07-15T09:30", "America/New_York") == "2030-07-15T13:30:00+00:00"
    assert scheduled_time("2030-07-15T09:30", None) == "2030-07-15T09:30:00+00:00"
    assert scheduled_time("2030-07-15T09:30", "Not/AZone") == "2030-07-15T09:30:00+00:00"
    assert scheduled_time("", "UTC") is None
    assert scheduled_time("tomorrow", "UTC") == "invalid"


def test_the_content_security_policy_allows_no_inline_code():
    policy = content_security_policy(["https://media.example"])
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy and "unsafe-eval" not in policy
    assert "img-src 'self' data: https://media.example" in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
