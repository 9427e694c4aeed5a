"""Typed settings read from environment variables, shared by every service and the gateway."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from microblog_common.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_UPLOAD_BODY_BYTES,
)

# Values people paste from examples; refusing them outside development stops a deploy that
# forgot to set a real secret.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "password", "dev", "development", "test", "xxx"}
)
MIN_SECRET_LENGTH = 32
DEV_INTERNAL_SECRET = "development-only-internal-secret-do-not-deploy"  # noqa: S105


def split_env_list(value: Any) -> Any:
    """A list from the environment: JSON (`["a","b"]`) or comma-separated (`a,b`)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [item.strip() for item in text.split(",") if item.strip()]


# A list setting read from the environment as JSON or a comma-separated string.
EnvList = Annotated[list[str], NoDecode, BeforeValidator(split_env_list)]


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def normalise_database_url(url: str) -> str:
    """Map the URLs platforms hand out (postgres://, postgresql://) to the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


class BaseServiceSettings(BaseSettings):
    """Settings every process has. Subclasses add their own fields and a default `service_name`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str
    environment: Environment = Environment.production
    log_level: str = "INFO"
    log_json: bool = True
    # A shared secret the gateway signs forwarded requests with; services refuse unsigned ones.
    internal_secret: SecretStr = Field(default=SecretStr(DEV_INTERNAL_SECRET))
    internal_signature_max_age_seconds: int = 60
    # Request bodies: larger ones are refused with 413 before they are read (uploads are
    # multipart/form-data), and JSON nested deeper is refused with 400.
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024)
    max_upload_body_bytes: int = Field(DEFAULT_MAX_UPLOAD_BODY_BYTES, ge=1024)
    max_json_depth: int = Field(DEFAULT_MAX_JSON_DEPTH, ge=4, le=256)

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> BaseServiceSettings:
        if self.environment is not Environment.development:
            secret = self.internal_secret.get_secret_value()
            if secret == DEV_INTERNAL_SECRET or secret.lower() in PLACEHOLDER_SECRETS:
                raise ValueError("INTERNAL_SECRET must be set to a real secret outside development")
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(f"INTERNAL_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        return self


class ServiceSettings(BaseServiceSettings):
    """Settings of a service that owns a database and takes part in events."""

    database_url: str
    # The public origin clients use (the gateway's): URLs in JSON, Link headers, links in emails.
    public_url: str = "http://127.0.0.1:8000"
    event_bus: Literal["rabbitmq", "memory"] = "rabbitmq"
    rabbitmq_url: str | None = None
    events_exchange: str = "microblog.events"
    # Run `alembic upgrade head` at start-up. Deployments run it as a pre-deploy step instead.
    migrate_on_start: bool = False
    # Freeze what start-up made and collect less often (`gc_pauses.py`, by `create_service_app`).
    # Unset: on, but with ENVIRONMENT=test, where one test process starts many apps and freezing
    # would keep every earlier one's objects.
    gc_settle_after_startup: bool | None = None
    # Worker threads for sync routes (anyio's default limiter, 40 unless set). Each may hold a
    # connection of each pool, so keep DB_POOL_SIZE at least REQUEST_THREADS: a pool smaller than
    # the threads using it closes an overflow connection on return and opens another for the next
    # request under load (a PostgreSQL backend forked each time: 1.3-1.4 ms of the server's CPU
    # per account read in bench/reads_and_posts.py, 0.24-0.27 ms without). More threads than that
    # only queue on the GIL of a 2-core machine.
    request_threads: int = Field(16, ge=1)
    db_pool_size: int = Field(16, ge=1)
    db_max_overflow: int = Field(8, ge=0)
    # Pooled connections are replaced after this long (no pre-ping round trip on every checkout;
    # a connection the server dropped meanwhile costs its request a 503).
    db_pool_recycle_seconds: int = Field(1800, ge=1)
    outbox_poll_interval_seconds: float = 1.0
    outbox_batch_size: int = 100
    outbox_lease_seconds: float = 30.0
    # At most the event lane's pool: each unacked message may hold a connection in its handler.
    consumer_prefetch: int = 10
    # Delays between attempts of a failing handler; after the last one the message is dead-lettered.
    consumer_retry_delays_seconds: tuple[float, ...] = (1.0, 5.0, 30.0)

    # The event lane (relay, consumer, due-time publishers, clean-up): its own pool and threads.
    # False hands it to the `worker` process (`python -m <service>.worker`); the embedded mode
    # always runs it in process.
    event_workers_in_process: bool = True
    lane_db_pool_size: int = Field(5, ge=1)
    lane_db_max_overflow: int = Field(5, ge=0)
    lane_threads: int = Field(8, ge=1)
    # Where a worker process answers /health/live, /health/ready and /metrics: WORKER_PORT, else
    # PORT (what a platform gives the process and probes), else 8080.
    worker_host: str = "0.0.0.0"  # noqa: S104 - a worker's health port, on the private network
    worker_port: int = Field(8080, ge=1, le=65535, validation_alias=AliasChoices("WORKER_PORT", "PORT"))

    # Retention of bookkeeping rows, pruned by the event lane every RETENTION_INTERVAL_SECONDS: inbox
    # rows (a duplicate older than this is no longer expected) and published outbox rows.
    inbox_retention_days: float = Field(7.0, gt=0)
    outbox_retention_days: float = Field(7.0, gt=0)
    retention_interval_seconds: float = Field(600.0, gt=0)

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _normalise_db_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @model_validator(mode="after")
    def _broker_needed(self) -> ServiceSettings:
        if self.event_bus == "rabbitmq" and not self.rabbitmq_url:
            raise ValueError("RABBITMQ_URL is required when EVENT_BUS=rabbitmq")
        if self.event_bus == "memory" and not self.event_workers_in_process:
            raise ValueError("EVENT_BUS=memory runs the event lane in the API process only")
        return self

    @property
    def settles_gc(self) -> bool:
        if self.gc_settle_after_startup is None:
            return self.environment is not Environment.test
        return self.gc_settle_after_startup
