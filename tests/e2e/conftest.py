"""The whole microblog as a client meets it, in both run modes the tests can start here:
`embedded` (one process, SQLite, in-process bus: what `make run` serves) and `local`
(a process per service over the session's PostgreSQL and RabbitMQ). A module may also ask for
`workers` (local, with every service's event lane in a worker process of its own) through
`WITH_WORKERS`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, text

from devstack.embedded_process import EmbeddedProcess
from devstack.mail import MailFolder, SmtpSink
from devstack.stack import EVENT_SERVICES, LocalStack
from devstack.translation_providers import MicrosoftTranslator

# Many accounts are registered from 127.0.0.1 in these scenarios, and the fuzzer and the
# posting-defaults check send thousands of requests with one token; the limits themselves are
# tested in the gateway's tests.
E2E_GATEWAY_ENV = {
    "RATE_LIMIT_REGISTRATION": "1000/minute",
    "RATE_LIMIT_SIGN_IN": "1000/minute",
    "RATE_LIMIT_DEFAULT": "100000/5 minutes",
}
# Scheduled posts may be due seconds ahead (Mastodon: 5 minutes), so a scenario can see one published.
E2E_POSTS_ENV = {"SCHEDULED_MIN_LEAD_SECONDS": "2"}
# Translation goes to a local stand-in of Microsoft Translator (a regional resource), with a short
# deadline so a scenario with a failing provider ends quickly.
TRANSLATOR_KEY = "e2e-translator-key"
TRANSLATOR_REGION = "westeurope"


def translate_env(translator_url: str) -> dict[str, str]:
    return {
        "MICROSOFT_TRANSLATOR_KEY": TRANSLATOR_KEY,
        "MICROSOFT_TRANSLATOR_REGION": TRANSLATOR_REGION,
        "MICROSOFT_TRANSLATOR_ENDPOINT": translator_url,
        "TRANSLATION_TIMEOUT_SECONDS": "2",
        "TRANSLATION_RETRY_INITIAL_SECONDS": "0.05",
    }


# Activity emails: a short digest window, so a scenario sees a second email; heartbeats every second.
E2E_NOTIFY_ENV = {
    "EMAIL_DIGEST_WINDOW_SECONDS": "2",
    "EMAIL_POLL_INTERVAL_SECONDS": "0.2",
    "STREAM_HEARTBEAT_SECONDS": "1",
    "STREAM_PRESENCE_REFRESH_SECONDS": "1",
    "MAIL_FROM": "Microblog <notifications@microblog.test>",
}


@dataclass
class Microblog:
    mode: str
    url: str
    database_urls: dict[str, str]
    # Where the notify service's email arrives: files (embedded) or an SMTP server (local).
    mailbox: MailFolder | SmtpSink
    stack: LocalStack | None = None

    def latest_event(self, service: str, event_type: str) -> dict:
        """The newest event of `event_type` in a service's outbox: how a test reads what only an
        email would carry (e.g. a password-reset token) without a mail server."""
        engine = create_engine(self.database_urls[service])
        try:
            with engine.connect() as conn:
                payload = conn.execute(
                    text("SELECT payload FROM outbox WHERE type = :t ORDER BY created_at DESC LIMIT 1"),
                    {"t": event_type},
                ).scalar_one()
        finally:
            engine.dispose()
        return json.loads(payload)


MODES = ["embedded", "local"]
# `pytestmark = WITH_WORKERS`: the module's scenarios also run with the event lanes as workers.
WITH_WORKERS = pytest.mark.parametrize("microblog", [*MODES, "workers"], indirect=True, scope="session")


@pytest.fixture(scope="session")
def translator() -> Iterator[tuple[MicrosoftTranslator, str]]:
    """The Microsoft Translator stand-in every microblog of the session translates with (a real
    HTTP server in this process; it counts the calls it gets)."""
    stand_in = MicrosoftTranslator(key=TRANSLATOR_KEY, region=TRANSLATOR_REGION)
    with stand_in.serving() as url:
        yield stand_in, url


# One microblog per mode for the whole session (a stack takes 10-30 s to start): the scenarios of
# every module share it, each with accounts of its own (unique names), and pytest runs all the
# scenarios of one mode together.
@pytest.fixture(scope="session", params=MODES)
def microblog(request, tmp_path_factory, translator):
    translate = translate_env(translator[1])
    if request.param == "embedded":
        # One process: every service reads the same environment (each takes its own settings).
        env = {**E2E_GATEWAY_ENV, **E2E_POSTS_ENV, **translate, **E2E_NOTIFY_ENV}
        data = tmp_path_factory.mktemp("embedded") / "data"
        with EmbeddedProcess(data, env=env) as run:
            yield Microblog("embedded", run.gateway_url, run.database_urls, MailFolder(data / "mail"))
    else:
        postgres = request.getfixturevalue("postgres_server")
        rabbitmq = request.getfixturevalue("rabbitmq_server")
        with (
            SmtpSink() as sink,
            LocalStack(
                postgres=postgres,
                rabbitmq=rabbitmq,
                extra_env={
                    "gateway": E2E_GATEWAY_ENV,
                    "posts": E2E_POSTS_ENV,
                    "translate": translate,
                    "notify": {**E2E_NOTIFY_ENV, "SMTP_URL": f"{sink.url}?starttls=false"},
                },
                workers=EVENT_SERVICES if request.param == "workers" else (),
            ) as stack,
        ):
            yield Microblog(request.param, stack.gateway_url, stack.database_urls, sink, stack)


T = TypeVar("T")
# Events cross a broker (or the embedded bus): what one service did reaches the others a moment later.
EVENTUAL = 10.0


def eventually(
    fetch: Callable[[], T], check: Callable[[T], bool], timeout: float = EVENTUAL, interval: float = 0.2
) -> T:
    """`fetch()` until `check` holds on what it returned (and return that), or fail with the last
    value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"not true within {timeout}s: last value {value!r}"
        time.sleep(interval)


class FormReader(HTMLParser):
    """Collects a page's form fields and the text of elements with an id (enough to drive the
    server-rendered OAuth pages the way a browser would)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self._current_id: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs.get("action")
        if tag == "input" and attrs.get("name") and attrs.get("type") in ("hidden", None, "text"):
            self.fields[attrs["name"]] = attrs.get("value") or ""
        if attrs.get("id"):
            self._current_id = attrs["id"]

    def handle_data(self, data):
        if self._current_id and data.strip():
            self.texts[self._current_id] = data.strip()
            self._current_id = None


def read_form(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    return reader
