"""Where email goes: Postmark's API (through `postmarker`), an SMTP server (STARTTLS or TLS, with
login), or files (one `.eml` per message, the embedded mode's default). Synchronous: the sender
calls them on the event lane's threads.

Each backend sorts failures the same way: `TransientMailError` (timeouts, refused connections,
5xx, rate limits: tried again later), `InactiveRecipient` (Postmark's 406: the address is
suppressed), `PermanentMailError` (any other refusal: recorded, not tried again)."""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import structlog
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from notify.settings import Settings

log = structlog.get_logger(__name__)

POSTMARK_INACTIVE_RECIPIENT = 406
# Postmark error codes that mean "later" whatever the HTTP status: maintenance, rate limit.
POSTMARK_TRANSIENT_CODES = (100, 429)


class MailError(Exception):
    pass


class TransientMailError(MailError):
    pass


class PermanentMailError(MailError):
    pass


class InactiveRecipient(PermanentMailError):
    pass


@dataclass(frozen=True)
class OutgoingEmail:
    email_id: int
    kind: str
    sender: str
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    links: tuple[str, ...] = ()

    def mime(self) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        if self.message_id:
            message["Message-ID"] = self.message_id
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        # After the bodies: setting content replaces every Content-* header (Content-Language).
        for name, value in self.headers.items():
            message[name] = value
        return message


class MailBackend(Protocol):
    name: str

    def send(self, email: OutgoingEmail) -> str | None:
        """Sends it; returns the provider's message id, if it gives one."""
        ...


class PostmarkBackend:
    name = "postmark"

    def __init__(self, settings: Settings):
        assert settings.postmark_server_token is not None
        self.client = PostmarkClient(
            server_token=settings.postmark_server_token.get_secret_value(),
            root_api_url=settings.postmark_api_url,
            timeout=settings.email_timeout_seconds,
        )
        self.stream = settings.postmark_message_stream

    def send(self, email: OutgoingEmail) -> str | None:
        try:
            answer = self.client.emails.send(
                From=email.sender,
                To=email.to,
                Subject=email.subject,
                TextBody=email.text,
                HtmlBody=email.html,
                Headers=dict(email.headers),
                MessageStream=self.stream,
                Tag=email.kind,
                Metadata={"email_id": str(email.email_id)},
                TrackLinks="None",
            )
        except ClientError as exc:
            status = _status_of(exc.__cause__)
            if exc.error_code == POSTMARK_INACTIVE_RECIPIENT:
                raise InactiveRecipient(str(exc)) from exc
            if exc.error_code in POSTMARK_TRANSIENT_CODES or status is None or status >= 500 or status == 429:
                raise TransientMailError(f"HTTP {status}: {exc}") from exc
            raise PermanentMailError(f"HTTP {status}: {exc}") from exc
        except requests.HTTPError as exc:  # an answer that isn't Postmark's JSON (a proxy, an outage page)
            status = _status_of(exc)
            if status is not None and 400 <= status < 500 and status != 429:
                raise PermanentMailError(f"HTTP {status}") from exc
            raise TransientMailError(f"HTTP {status}") from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientMailError(f"{type(exc).__name__}: {exc}") from exc
        return str(answer.get("MessageID")) if isinstance(answer, dict) and answer.get("MessageID") else None


def _status_of(exc: BaseException | None) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: bool

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "SMTP_URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465"
            )
        query = parse_qs(parts.query)
        implicit = parts.scheme == "smtps"
        starttls = not implicit and query.get("starttls", ["true"])[0].lower() not in ("false", "0", "no")
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls=starttls,
        )


class SmtpBackend:
    name = "smtp"

    def __init__(self, settings: Settings):
        assert settings.smtp_url is not None
        self.target = SmtpTarget.parse(settings.smtp_url.get_secret_value())
        self.timeout = settings.email_timeout_seconds
        self.context = ssl.create_default_context(
            cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
        )

    def send(self, email: OutgoingEmail) -> str | None:
        target = self.target
        try:
            client: smtplib.SMTP
            if target.implicit_tls:
                client = smtplib.SMTP_SSL(
                    target.host, target.port, timeout=self.timeout, context=self.context
                )
            else:
                client = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
            with client:
                client.ehlo()
                if target.starttls:
                    client.starttls(context=self.context)  # refuses to go on in the clear
                    client.ehlo()
                if target.username:
                    client.login(target.username, target.password or "")
                refused = client.send_message(email.mime())
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientMailError(f"recipient deferred: {codes}") from exc
            raise PermanentMailError(f"recipient refused: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500 or isinstance(exc, smtplib.SMTPAuthenticationError):
                # A login refused is a configuration to fix: the mail waits for it (up to its attempts).
                raise TransientMailError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise PermanentMailError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientMailError(f"{type(exc).__name__}: {exc}") from exc
        if refused:
            raise PermanentMailError(f"recipient refused: {refused}")
        return None


class FileBackend:
    """One `.eml` per message in a folder, and a log line with its links (the embedded mode)."""

    name = "file"

    def __init__(self, settings: Settings):
        self.folder = Path(settings.mail_dir)

    def send(self, email: OutgoingEmail) -> str | None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{email.email_id}-{email.kind}.eml"
            partial = path.with_suffix(".eml.part")
            partial.write_bytes(bytes(email.mime()))
            os.replace(partial, path)  # readers never see half a message
        except OSError as exc:
            raise TransientMailError(f"{type(exc).__name__}: {exc}") from exc
        log.info("email_written", path=str(path), kind=email.kind, links=list(email.links))
        return path.name


def build_backend(settings: Settings) -> MailBackend:
    backend = settings.chosen_email_backend
    if backend == "postmark":
        return PostmarkBackend(settings)
    if backend == "smtp":
        return SmtpBackend(settings)
    return FileBackend(settings)
