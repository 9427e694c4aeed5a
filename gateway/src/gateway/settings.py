"""Settings of the gateway, read from environment variables (no prefix)."""

from __future__ import annotations

from limits import parse_many
from pydantic import field_validator

from gateway.upstreams import SERVICES, Upstream
from microblog_common.settings import BaseServiceSettings, EnvList


class Settings(BaseServiceSettings):
    service_name: str = "gateway"

    # Where each service listens: `http://host:port` or `unix:/absolute/path.sock`.
    users_url: str
    posts_url: str
    search_url: str
    translate_url: str
    notify_url: str
    # The web UI: every page and static file (the paths the API does not use) goes there.
    web_url: str

    # Origins allowed to call the API from a browser. "*" (Mastodon's choice) is safe because the
    # API authenticates with bearer tokens, never with cookies, so credentials are never allowed.
    cors_origins: EnvList = ["*"]
    # Peers (IPs or CIDRs, or "*") whose X-Forwarded-For / X-Forwarded-Proto are believed. Empty:
    # the TCP peer is the client. Set it to the platform's proxy addresses when behind one.
    trusted_proxies: EnvList = []

    upstream_timeout_seconds: float = 30.0
    upstream_connect_timeout_seconds: float = 5.0
    # Connections the proxy may hold open to each service (a request beyond that waits for one,
    # up to UPSTREAM_TIMEOUT_SECONDS). Each open Server-Sent Events stream holds one for its whole
    # life. Idle ones are dropped after 4 s (before uvicorn's keep-alive ends on the service's side).
    upstream_max_connections: int = 1000
    # Idle connections kept by the client of the gateway's own calls (health checks, token keys).
    upstream_max_keepalive_connections: int = 100
    health_check_timeout_seconds: float = 3.0

    rate_limit_enabled: bool = True
    # `limits` notation: "300/5 minutes", "25 per 5 minutes", "10/second;1000/hour".
    rate_limit_default: str = "300/5 minutes"
    rate_limit_health: str = "600/minute"
    # Counters live in this process ("async+memory://"); a shared store such as
    # "async+redis://host:6379" makes the limits hold across replicas.
    rate_limit_storage_uri: str = "async+memory://"
    # Abuse limits per client IP on the endpoints that take passwords or create accounts.
    rate_limit_sign_in: str = "25/5 minutes"
    rate_limit_registration: str = "5/30 minutes"
    # Pages and static files of the web UI, per client IP (a browser sends no token; the UI's own
    # API calls count under the other rules, as the account's or the client's). Apart from the
    # API quota, so reading pages never spends it.
    rate_limit_pages: str = "1500/5 minutes"

    # Access tokens: JWTs the users service signs; verified here against its JWKS.
    token_issuer: str = "microblog-users"  # noqa: S105 - a name, not a secret
    token_audience: str = "microblog"  # noqa: S105 - a name, not a secret
    token_revocation_poll_seconds: float = 2.0
    # How long the users service's answer "this token is live" is remembered (revocations seen on
    # the feed meanwhile end it at once).
    token_status_ttl_seconds: float = 300.0

    # Prometheus metrics on a port of their own (never the public one); unset: not served.
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"  # noqa: S104 - the private network's scraper reaches it

    # The public origin, e.g. https://microblog.example. Without it, URLs in the instance
    # entity are built from the request's scheme and Host header.
    public_url: str | None = None
    # Override of the WebSocket streaming URL (default: the public origin with ws/wss).
    streaming_url: str | None = None
    instance_title: str = "Microblog"
    instance_description: str = "A microblog that speaks the Mastodon client API."
    # Unset: the instance entities say null (Mastodon's `contact.email` when none is configured).
    instance_contact_email: str | None = None
    instance_languages: EnvList = ["en"]
    source_url: str = ""
    registrations_enabled: bool = True
    # How often the instance's counts and translation state are read from the services.
    instance_facts_refresh_seconds: float = 30.0
    max_status_characters: int = 500

    @field_validator("users_url", "posts_url", "search_url", "translate_url", "notify_url", "web_url")
    @classmethod
    def _valid_upstream(cls, value: str) -> str:
        Upstream.parse("check", value)  # raises ValueError with a clear message
        return value.rstrip("/")

    @field_validator(
        "rate_limit_default",
        "rate_limit_health",
        "rate_limit_sign_in",
        "rate_limit_registration",
        "rate_limit_pages",
    )
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        parse_many(value)
        return value

    @field_validator("instance_contact_email")
    @classmethod
    def _blank_email_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("public_url", "streaming_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    def upstreams(self) -> dict[str, Upstream]:
        return {name: Upstream.parse(name, getattr(self, f"{name}_url")) for name in SERVICES}
