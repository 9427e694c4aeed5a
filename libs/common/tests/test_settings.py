import pytest
from pydantic import ValidationError

from microblog_common.settings import ServiceSettings, normalise_database_url

GOOD_SECRET = "k" * 40


def test_platform_postgres_urls_are_mapped_to_psycopg2():
    assert normalise_database_url("postgres://u:p@h:5432/db") == "postgresql+psycopg2://u:p@h:5432/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    monkeypatch.setenv("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    monkeypatch.setenv("INTERNAL_SECRET", GOOD_SECRET)
    monkeypatch.setenv("CONSUMER_RETRY_DELAYS_SECONDS", "[0.5, 2]")
    settings = ServiceSettings(service_name="x")
    assert settings.database_url == "postgresql+psycopg2://u@h/db"
    assert settings.consumer_retry_delays_seconds == (0.5, 2.0)


def test_missing_database_url_fails_fast(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="database_url"):
        ServiceSettings(service_name="x", internal_secret=GOOD_SECRET, event_bus="memory")


def test_rabbitmq_bus_needs_a_broker_url(monkeypatch):
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    with pytest.raises(ValidationError, match="RABBITMQ_URL"):
        ServiceSettings(service_name="x", database_url="sqlite://", internal_secret=GOOD_SECRET)


@pytest.mark.parametrize("secret", ["changeme", "secret", "short-but-real"])
def test_placeholder_or_short_secrets_are_refused_outside_development(secret):
    with pytest.raises(ValidationError, match="INTERNAL_SECRET"):
        ServiceSettings(
            service_name="x", database_url="sqlite://", event_bus="memory", internal_secret=secret
        )


def test_the_default_secret_is_refused_in_production_but_allowed_in_development():
    with pytest.raises(ValidationError, match="INTERNAL_SECRET"):
        ServiceSettings(service_name="x", database_url="sqlite://", event_bus="memory")
    dev = ServiceSettings(
        service_name="x", database_url="sqlite://", event_bus="memory", environment="development"
    )
    assert dev.environment == "development"
