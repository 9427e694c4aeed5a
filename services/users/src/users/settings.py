"""Settings of the users service, read from environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from microblog_common.settings import ServiceSettings

TEN_YEARS = 10 * 365 * 24 * 3600


class Settings(ServiceSettings):
    service_name: str = "users"
    token_issuer: str = "microblog-users"  # noqa: S105
    token_audience: str = "microblog"  # noqa: S105
    # Mastodon apps never refresh, so access tokens live long; revocation is what ends them.
    access_token_lifetime_seconds: int = TEN_YEARS
    refresh_token_lifetime_seconds: int = TEN_YEARS
    authorization_code_lifetime_seconds: int = 600
    # An Ed25519 private key (PKCS#8 PEM). Unset: keys are generated and kept in the database.
    token_signing_key: SecretStr | None = None
    # How long a replica keeps using the signing key it loaded before looking for a newer one.
    signing_key_cache_seconds: float = 30.0

    password_reset_lifetime_seconds: int = 1800
    # Reset requests per address (known or not) in the window; more get 429.
    password_reset_limit: int = 5
    password_reset_window_seconds: int = 1800
    # The web UI page the reset email links to (on `public_url`).
    password_reset_path: str = "/auth/reset"  # noqa: S105

    # Retention of spent secrets, pruned by the event lane: the revocation feed (a gateway needs the
    # rows since it last read the feed; one that falls further behind asks about every token
    # again), and reset tokens and authorization codes once used or expired.
    token_revocation_feed_retention_seconds: float = Field(86400.0, gt=0)
    spent_secret_retention_seconds: float = Field(7 * 86400.0, gt=0)

    # Argon2id cost (argon2-cffi's defaults, RFC 9106's low-memory profile). Hashes made with other
    # parameters are upgraded at the next successful sign-in.
    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 65536
    argon2_parallelism: int = 4
    # How many hashes run at once (each takes ARGON2_MEMORY_COST_KIB of memory and a core): a burst
    # of sign-ins queues here instead of taking the process's memory and every request thread.
    password_hash_concurrency: int = Field(2, ge=1)

    # Uploaded avatars and headers: a folder (served by this service at /system/media/) or an
    # S3-compatible bucket (served from its public URL).
    media_storage: Literal["local", "s3"] = "local"
    media_root: Path = Path(".data/media")
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # unset: AWS itself
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Where the bucket's objects are public, e.g. https://files.example (default: the endpoint's
    # path-style URL of the bucket).
    s3_public_url: str | None = None
    s3_acl: str = "public-read"

    @model_validator(mode="after")
    def _bucket_needed(self) -> "Settings":
        if self.media_storage == "s3" and not self.s3_bucket:
            raise ValueError("S3_BUCKET is required when MEDIA_STORAGE=s3")
        return self

    def s3_public_url_or_default(self) -> str | None:
        if self.s3_public_url:
            return self.s3_public_url.rstrip("/")
        endpoint = (
            self.s3_endpoint_url or f"https://s3.{self.s3_region or 'us-east-1'}.amazonaws.com"
        ).rstrip("/")
        return f"{endpoint}/{self.s3_bucket}"
