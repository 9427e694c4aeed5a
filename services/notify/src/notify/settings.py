"""Settings of the notify service, read from environment variables. The process refuses to start
with an email configuration that can't work (fail fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from microblog_common.settings import Environment, ServiceSettings

EmailBackend = Literal["postmark", "smtp", "file"]


class Settings(ServiceSettings):
    service_name: str = "notify"
    # The instance's name in emails (the gateway reads the same variable for the instance entity).
    instance_title: str = "Microblog"

    # -- email ---------------------------------------------------------------------------------
    # Unset: Postmark when POSTMARK_SERVER_TOKEN is set, else SMTP when SMTP_URL is, else files
    # (refused in production: mail must go somewhere real there, or be asked for as files).
    email_backend: EmailBackend | None = None
    mail_from: str | None = None
    postmark_server_token: SecretStr | None = None
    postmark_message_stream: str = "outbound"
    # Postmark's API origin (a local stand-in in tests); postmarker drops any path in it.
    postmark_api_url: str = "https://api.postmarkapp.com/"
    # `smtp://user:pass@host:587` (STARTTLS required), `smtp://host:1025?starttls=false` (a local
    # catcher), `smtps://user:pass@host:465` (TLS from the start).
    smtp_url: SecretStr | None = None
    # A CA bundle to verify the SMTP server's certificate with (default: the system's).
    smtp_ca_file: Path | None = None
    # Where the file backend writes one `.eml` per message.
    mail_dir: Path = Path(".data/mail")
    email_timeout_seconds: float = Field(15.0, gt=0)
    # Activity emails: at most one per type per account within this window; what comes in
    # meanwhile goes out together in the next one (a digest).
    email_digest_window_seconds: float = Field(600.0, ge=0)
    email_poll_interval_seconds: float = Field(1.0, gt=0)
    email_batch_size: int = Field(20, ge=1)
    # Retries of timeouts, 5xx and refused connections: exponential back-off from the base,
    # capped, until the attempts run out (then the email is `failed`, and logged).
    email_retry_base_seconds: float = Field(5.0, gt=0)
    email_retry_max_seconds: float = Field(600.0, gt=0)
    email_max_attempts: int = Field(30, ge=1)
    # How long an attempt holds its email before a crashed sender's email is tried again; longer
    # than any send can take.
    email_lease_seconds: float = Field(120.0, gt=0)

    # -- live streams ----------------------------------------------------------------------------
    stream_heartbeat_seconds: float = Field(15.0, gt=0)
    # Events waiting for one connection; a client that falls this far behind is dropped.
    stream_queue_size: int = Field(200, ge=1)
    # How often each replica refreshes the presence rows of the accounts it streams to (they
    # expire after three intervals, so a crashed replica's rows stop counting).
    stream_presence_refresh_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _email_configured(self) -> Settings:
        backend = self.chosen_email_backend
        if backend == "postmark" and not self.postmark_server_token:
            raise ValueError("EMAIL_BACKEND=postmark needs POSTMARK_SERVER_TOKEN")
        if backend == "smtp" and not self.smtp_url:
            raise ValueError("EMAIL_BACKEND=smtp needs SMTP_URL")
        if backend in ("postmark", "smtp") and not self.mail_from:
            raise ValueError(f"EMAIL_BACKEND={backend} needs MAIL_FROM (the sender address)")
        if backend == "file" and self.email_backend is None and self.environment is Environment.production:
            raise ValueError(
                "no email transport: set POSTMARK_SERVER_TOKEN or SMTP_URL "
                "(or EMAIL_BACKEND=file to write files)"
            )
        return self

    @property
    def chosen_email_backend(self) -> EmailBackend:
        if self.email_backend is not None:
            return self.email_backend
        if self.postmark_server_token:
            return "postmark"
        if self.smtp_url:
            return "smtp"
        return "file"

    @property
    def sender(self) -> str:
        return self.mail_from or f"{self.instance_title} <notifications@localhost>"
