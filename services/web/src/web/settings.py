"""Settings of the web service, read from environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from microblog_common.internal_client import validate_service_url
from microblog_common.settings import EnvList, ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "web"
    # The web UI publishes and consumes no events: it needs no broker.
    event_bus: Literal["rabbitmq", "memory"] = "memory"

    # Where the web service reaches the public API: the gateway's internal address (on Railway
    # `http://gateway.railway.internal:8000`). Every call goes through it like any client's.
    gateway_url: str
    # How long one API call may take before the page says the service is unavailable.
    api_timeout_seconds: float = Field(10.0, gt=0)

    # Signs the session cookie and encrypts the access tokens kept for sessions. Unset: derived
    # from INTERNAL_SECRET (changing either signs everyone out).
    session_secret: SecretStr | None = None
    session_lifetime_days: float = Field(30.0, gt=0)
    # How the OAuth application the web UI registers itself as is called on the consent page and
    # in the authorised-apps list.
    app_name: str = "Microblog web"
    # Origins images may come from besides this one (object storage serving uploaded avatars).
    image_origins: EnvList = []
    # How often expired sessions are deleted.
    session_cleanup_interval_seconds: float = Field(3600.0, gt=0)

    @field_validator("gateway_url")
    @classmethod
    def _valid_gateway(cls, value: str) -> str:
        checked = validate_service_url(value)
        assert checked is not None
        return checked

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def signing_secret(self) -> str:
        secret = self.session_secret or self.internal_secret
        return secret.get_secret_value()
