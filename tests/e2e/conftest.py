"""The whole microblog as a client meets it, in both run modes the tests can start here:
`embedded` (one process, SQLite, in-process bus: what `make run` serves) and `local`
(a process per service over the session's PostgreSQL and RabbitMQ). A module may also ask for
`workers` (local, with every service's event lane in a worker process of its own) through
`WITH_WORKERS`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from sqlalchemy import create_engine, text

from devstack.embedded_process import EmbeddedProcess
from devstack.stack import SERVICES, LocalStack

# Many accounts are registered from 127.0.0.1 in these scenarios; the abuse limits themselves are
# tested in the gateway's tests.
E2E_GATEWAY_ENV = {"RATE_LIMIT_REGISTRATION": "1000/minute", "RATE_LIMIT_SIGN_IN": "1000/minute"}
# Scheduled posts may be due seconds ahead (Mastodon: 5 minutes), so a scenario can see one published.
E2E_POSTS_ENV = {"SCHEDULED_MIN_LEAD_SECONDS": "2"}


@dataclass
class Microblog:
    mode: str
    url: str
    database_urls: dict[str, str]
    # The local-processes mode's stack, to stop and start one service (None when embedded).
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
WITH_WORKERS = pytest.mark.parametrize("microblog", [*MODES, "workers"], indirect=True, scope="module")


@pytest.fixture(scope="module", params=MODES)
def microblog(request, tmp_path_factory):
    if request.param == "embedded":
        env = {**E2E_GATEWAY_ENV, **E2E_POSTS_ENV}
        with EmbeddedProcess(tmp_path_factory.mktemp("embedded") / "data", env=env) as run:
            yield Microblog("embedded", run.gateway_url, run.database_urls)
    else:
        postgres = request.getfixturevalue("postgres_server")
        rabbitmq = request.getfixturevalue("rabbitmq_server")
        with LocalStack(
            postgres=postgres,
            rabbitmq=rabbitmq,
            extra_env={"gateway": E2E_GATEWAY_ENV, "posts": E2E_POSTS_ENV},
            workers=SERVICES if request.param == "workers" else (),
        ) as stack:
            yield Microblog(request.param, stack.gateway_url, stack.database_urls, stack)


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
