"""Settings of the users service, read from environment variables."""

from pydantic import Field, SecretStr

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
