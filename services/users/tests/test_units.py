"""Pure logic: parameter nesting, note rendering, scope rules, password hashing."""

from __future__ import annotations

from microblog_common.params import list_param, nest
from users import scopes
from users.accounts.rendering import field_value_html, note_html
from users.passwords import Passwords
from users.settings import Settings


def test_nest_reads_rails_style_keys():
    params = nest(
        [
            ("source[language]", "en"),
            ("fields_attributes[0][name]", "a"),
            ("fields_attributes[0][value]", "b"),
            ("fields_attributes[1][name]", "c"),
            ("id[]", "1"),
            ("id[]", "2"),
            ("plain", "x"),
        ]
    )
    assert params == {
        "source": {"language": "en"},
        "fields_attributes": {"0": {"name": "a", "value": "b"}, "1": {"name": "c"}},
        "id": ["1", "2"],
        "plain": "x",
    }
    assert list_param(params, "id") == ["1", "2"] and list_param({"id": "7"}, "id") == ["7"]


def test_note_html_escapes_everything_but_links():
    html = note_html("<img src=x onerror=alert(1)> javascript:alert(1) http://ok.example/p\nline two")
    assert "<img" not in html and "&lt;img" in html
    assert 'href="javascript' not in html
    assert '<a href="http://ok.example/p" target="_blank" rel="nofollow noopener noreferrer">' in html
    assert html.endswith("<br>line two</p>")
    assert note_html("   ") == ""
    assert field_value_html("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"


def test_scope_rules():
    assert scopes.parse("read  write+follow,read") == ["read", "write", "follow"]
    assert scopes.allowed_for_app(["read:accounts"], ["read"])
    assert not scopes.allowed_for_app(["write"], ["read"])
    assert not scopes.allowed_for_app(["read:nonsense"], ["read"])
    assert scopes.allowed_for_app(["admin:read:accounts"], ["admin:read"])


def test_passwords_rehash_when_parameters_change():
    cheap = Passwords(
        Settings(
            database_url="sqlite://",
            event_bus="memory",
            environment="development",
            argon2_time_cost=1,
            argon2_memory_cost_kib=1024,
            argon2_parallelism=1,
        )
    )
    costlier = Passwords(
        Settings(
            database_url="sqlite://",
            event_bus="memory",
            environment="development",
            argon2_time_cost=2,
            argon2_memory_cost_kib=2048,
            argon2_parallelism=1,
        )
    )
    stored = cheap.hash("secret passphrase")
    assert stored.startswith("$argon2id$")
    assert cheap.verify(stored, "secret passphrase") and not cheap.verify(stored, "wrong")
    assert not cheap.needs_rehash(stored) and costlier.needs_rehash(stored)
    assert costlier.verify(stored, "secret passphrase")  # old hashes keep working
    assert not cheap.verify(None, "anything")
