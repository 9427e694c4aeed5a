import pytest
from pydantic import ValidationError

from gateway.settings import Settings
from gateway.upstreams import Upstream

URLS = {
    "USERS_URL": "http://users.railway.internal:8080",
    "POSTS_URL": "unix:/run/microblog/posts.sock",
    "SEARCH_URL": "http://127.0.0.1:9001/",
    "TRANSLATE_URL": "https://translate.example",
    "NOTIFY_URL": "http://[::1]:9003",
    "WEB_URL": "http://web.railway.internal:8080",
}


@pytest.fixture
def env(monkeypatch):
    for key, value in URLS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("INTERNAL_SECRET", "s" * 40)
    return monkeypatch


def test_settings_come_from_the_environment(env):
    env.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    env.setenv("TRUSTED_PROXIES", '["10.0.0.0/8", "fd00::/8"]')
    env.setenv("RATE_LIMIT_DEFAULT", "100/minute")
    settings = Settings()
    assert settings.service_name == "gateway"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.trusted_proxies == ["10.0.0.0/8", "fd00::/8"]
    upstreams = settings.upstreams()
    assert upstreams["users"] == Upstream("users", "http://users.railway.internal:8080")
    assert upstreams["posts"] == Upstream("posts", "http://posts.unix.invalid", "/run/microblog/posts.sock")
    assert upstreams["search"].base_url == "http://127.0.0.1:9001"
    assert upstreams["translate"].ws_base_url == "wss://translate.example"
    assert upstreams["notify"].ws_base_url == "ws://[::1]:9003"


def test_defaults(env):
    settings = Settings()
    assert settings.cors_origins == ["*"]
    assert settings.trusted_proxies == []
    assert settings.rate_limit_default == "300/5 minutes"
    assert settings.public_url is None


@pytest.mark.parametrize("missing", sorted(URLS))
def test_every_upstream_is_required(env, missing):
    env.delenv(missing)
    with pytest.raises(ValidationError, match=missing.lower()):
        Settings()


@pytest.mark.parametrize(
    "bad", ["unix:relative.sock", "ftp://x", "users:8080", "http://x:1/some/path", "http://"]
)
def test_bad_upstream_urls_are_refused(env, bad):
    env.setenv("USERS_URL", bad)
    with pytest.raises(ValidationError):
        Settings()


def test_bad_rate_limit_is_refused(env):
    env.setenv("RATE_LIMIT_DEFAULT", "lots")
    with pytest.raises(ValidationError):
        Settings()


def test_placeholder_secret_is_refused_outside_development(env):
    env.setenv("INTERNAL_SECRET", "changeme")
    with pytest.raises(ValidationError, match="INTERNAL_SECRET"):
        Settings()
