"""Settings of the search service, read from environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from microblog_common.internal_client import validate_service_url
from microblog_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "search"

    # The index: Elasticsearch when ELASTICSEARCH_URL is set, else the embedded index (tantivy) in
    # SEARCH_INDEX_DIR. One of the two is required.
    elasticsearch_url: str | None = None
    elasticsearch_api_key: SecretStr | None = None
    elasticsearch_username: str | None = None
    elasticsearch_password: SecretStr | None = None
    # Index and alias names start with it (`<prefix>-statuses`, `<prefix>-accounts`).
    elasticsearch_index_prefix: str = Field("microblog", pattern=r"^[a-z0-9][a-z0-9_-]{0,60}$")
    # Send plain `application/json` instead of the client's compatibility media types, which
    # OpenSearch (and OpenSearch-compatible servers) refuse with 406.
    elasticsearch_plain_json: bool = False
    elasticsearch_timeout_seconds: float = Field(5.0, gt=0)
    # Languages (ISO 639-1) whose statuses get a stemmed sub-field with Elasticsearch's analyser.
    elasticsearch_languages: tuple[str, ...] = (
        "en", "es", "fr", "de", "it", "pt", "nl", "ru", "ar", "tr", "sv", "zh", "ja", "ko",
    )  # fmt: skip
    elasticsearch_shards: int = Field(1, ge=1)
    elasticsearch_replicas: int = Field(0, ge=0)
    search_index_dir: Path | None = None
    # Memory each of the embedded index's writers (statuses, accounts) may use before it flushes a
    # segment (tantivy needs at least 15 MB for its one thread).
    search_index_writer_heap_mb: int = Field(15, ge=15)

    # The indexer (a lane task): documents applied per batch, and how often it looks for changes
    # when nothing woke it (a consumed event wakes it at once).
    index_batch_size: int = Field(500, ge=1, le=10_000)
    index_poll_interval_seconds: float = Field(1.0, gt=0)
    # How long the indexer lets changes gather after it is woken, so a burst is one batch (one
    # bulk request, one tantivy commit) rather than many.
    index_linger_seconds: float = Field(0.05, ge=0, le=1)
    # The longest pause between attempts while the index is unreachable (doubling from 1 s).
    index_retry_max_seconds: float = Field(30.0, gt=0)
    # Documents read from the replica per step of a rebuild, and how many are written between two
    # commits of the new index (its progress is recorded at each).
    rebuild_batch_size: int = Field(1000, ge=1, le=50_000)
    rebuild_commit_documents: int = Field(50_000, ge=1)

    # Where `python -m search.manage rebuild` reads the exports from (signed internal calls).
    users_url: str | None = None
    posts_url: str | None = None
    export_page_size: int = Field(500, ge=1, le=1000)

    @field_validator("users_url", "posts_url")
    @classmethod
    def _service_url(cls, value: str | None) -> str | None:
        return validate_service_url(value)

    @field_validator("elasticsearch_url")
    @classmethod
    def _es_url(cls, value: str | None) -> str | None:
        return value.strip().rstrip("/") if value and value.strip() else None

    @model_validator(mode="after")
    def _one_index(self) -> Settings:
        if self.elasticsearch_url is None and self.search_index_dir is None:
            raise ValueError("set ELASTICSEARCH_URL (Elasticsearch) or SEARCH_INDEX_DIR (the embedded index)")
        if (self.elasticsearch_username is None) != (self.elasticsearch_password is None):
            raise ValueError("ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD go together")
        return self
