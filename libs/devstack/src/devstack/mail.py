"""Where the notify service's email goes when it runs here: a real SMTP server that keeps what it
receives (aiosmtpd, optionally with STARTTLS and AUTH), a local HTTP server that follows
Postmark's documented email API (`POST /email`, `/email/batch`; errors as
`{"ErrorCode", "Message"}`; an outage can be switched on), and the embedded mode's folder of
`.eml` files. Each hands back what arrived as parsed messages, so a test reads an email the way
its recipient would."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from devstack.servers import free_port


def _wait_for(found: Callable[[], list[Any]], count: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        items = found()
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


class SmtpSink:
    """`with SmtpSink() as sink: ... sink.wait(to="a@b")`: an SMTP server on 127.0.0.1. With
    `tls_context` it offers STARTTLS (and requires it before AUTH); with `credentials` it requires
    a login."""

    def __init__(
        self, *, tls_context: ssl.SSLContext | None = None, credentials: tuple[str, str] | None = None
    ):
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self.credentials = credentials
        kwargs: dict[str, Any] = {}
        if tls_context is not None:
            kwargs |= {"tls_context": tls_context, "require_starttls": True}
        if credentials is not None:
            kwargs |= {"authenticator": self._authenticate, "auth_required": True}
            if tls_context is None:
                kwargs["auth_require_tls"] = False
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.credentials is not None:
            given = (auth_data.login.decode(), auth_data.password.decode())
            if given == self.credentials:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def received(self, to: str | None = None) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if to is None or to in str(m["To"])]

    def wait(self, to: str | None = None, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        return _wait_for(lambda: self.received(to), count, timeout)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class PostmarkDouble:
    """Postmark's email API as documented, on 127.0.0.1: `X-Postmark-Server-Token` checked (401,
    ErrorCode 10), `From`/`To`/`Subject` and a body required (422, ErrorCode 300), addresses in
    `inactive` refused (422, ErrorCode 406), `outage` answering 503 with an HTML page as a proxy
    in front of a down service would. `messages` are the accepted ones, as sent."""

    token: str = "postmark-test-token"  # noqa: S105 - a test double's token
    inactive: set[str] = field(default_factory=set)
    outage: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def received(self, to: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if to is None or to in m.get("To", "")]

    def wait(self, to: str | None = None, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        return _wait_for(lambda: self.received(to), count, timeout)

    def _answer(self, message: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(message, dict):
            return 422, {"ErrorCode": 402, "Message": "Invalid JSON"}
        if not message.get("From") or not message.get("To"):
            return 422, {"ErrorCode": 300, "Message": "Invalid email request"}
        if not message.get("HtmlBody") and not message.get("TextBody"):
            return 422, {"ErrorCode": 300, "Message": "Provide either email TextBody or HtmlBody or both."}
        recipients = [a.strip().lower() for a in str(message["To"]).split(",")]
        if any("@" not in r.rsplit("<", 1)[-1] for r in recipients):
            return 422, {"ErrorCode": 300, "Message": "Error parsing 'To': Illegal email address."}
        if any(r in self.inactive for r in recipients):
            return 422, {
                "ErrorCode": 406,
                "Message": "You tried to send to a recipient that has been marked as inactive.",
            }
        with self._lock:
            self.messages.append(message)
            number = len(self.messages)
        return 200, {
            "To": message["To"],
            "SubmittedAt": "2026-01-01T00:00:00Z",
            "MessageID": f"00000000-0000-0000-0000-{number:012d}",
            "ErrorCode": 0,
            "Message": "OK",
        }

    def start(self) -> PostmarkDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with double._lock:
                    double.attempts += 1
                    outage = double.outage
                if outage:
                    self._send(503, b"<html><body>503 Service Unavailable</body></html>", "text/html")
                    return
                if self.headers.get("X-Postmark-Server-Token") != double.token:
                    self._send(401, {"ErrorCode": 10, "Message": "Bad or missing Server API token."})
                    return
                try:
                    payload = json.loads(raw)
                except ValueError:
                    self._send(422, {"ErrorCode": 402, "Message": "Invalid JSON"})
                    return
                if self.path.rstrip("/") == "/email":
                    self._send(*double._answer(payload))
                elif self.path.rstrip("/") == "/email/batch" and isinstance(payload, list):
                    if len(payload) > 500:
                        self._send(422, {"ErrorCode": 410, "Message": "Too many batch messages."})
                        return
                    results = [double._answer(m)[1] for m in payload]
                    self._send(200, results)
                else:
                    self._send(404, {"ErrorCode": 404, "Message": "Not found"})

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> PostmarkDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MailFolder:
    """The embedded mode's mail: one `.eml` file per message in `<data dir>/mail/`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def received(self, to: str | None = None) -> list[EmailMessage]:
        messages = []
        for path in sorted(self.folder.glob("*.eml")) if self.folder.exists() else []:
            parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            if to is None or to in str(parsed["To"]):
                messages.append(parsed)
        return messages

    def wait(self, to: str | None = None, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        return _wait_for(lambda: self.received(to), count, timeout)


def bodies(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies of a message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return (
        text.get_content() if text is not None else "",
        html.get_content() if html is not None else "",
    )
