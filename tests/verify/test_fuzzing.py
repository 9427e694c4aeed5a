"""Fuzzing: schemathesis against the gateway's own `/api/openapi.json`, over a process per service
on real PostgreSQL and RabbitMQ, signed in as two real accounts in turn.

One campaign per module (`campaign`): first account A fuzzes while account B's data is watched,
then B fuzzes while A's is; each turn sends generated requests (valid ones and ones that break
the document: wrong types, missing fields, odd characters) and then runs schemathesis's stateful
scenarios, which chain an operation to the ones its answer links to (create a status, then read,
edit, favourite, delete it). The fuzzing account's path parameters (and reply/dismiss targets) are
often swapped for the ids of the watched account's statuses, notifications, scheduled statuses and
authorised apps, so "change another's data" is really attempted rather than left to random ids.
The watched account's data is read through the API, as its owner, before and after the turn.

Each test then asserts one promise over the campaign's record (a row of `make verify`'s table).
Reproducible: the same document gives the same generated requests every run (a few threads send
them, so their order may vary a little), and the stateful suites run on fixed seeds (the answers
of a live server still steer which links they follow)."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from mastodon import Mastodon
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ensure_resource_availability,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)
from schemathesis.engine.errors import is_inconsistent_replay
from schemathesis.generation.stateful.state_machine import StepOutput
from schemathesis.specs.openapi import stateful
from schemathesis.transport import wsgi as _wsgi  # noqa: F401  (imported here, not lazily by four threads at once)

from devstack.mail import SmtpSink
from devstack.servers import PostgresServer, RabbitMQServer
from devstack.stack import SERVICES, LocalStack
from devstack.translation_providers import MicrosoftTranslator
from tests.e2e.conftest import (
    E2E_GATEWAY_ENV,
    E2E_NOTIFY_ENV,
    TRANSLATOR_KEY,
    TRANSLATOR_REGION,
    eventually,
    translate_env,
)

# Generated requests per fuzzing account (the issue asks for at least 5,000 in all), and stateful
# scenarios per account (each a chain of a few linked steps).
REQUESTS_PER_ACCOUNT = 2300
SCENARIOS_PER_ACCOUNT = 100
STEPS_PER_SCENARIO = 6
# Stateful suites per account at most (each ends at its first inconsistent replay).
MAX_SUITES = 20
# Operations a stateful scenario may start at, besides those schemathesis picks.
ROOTS = {"POST /api/v1/statuses"}
VISIBILITIES = ["public", "unlisted", "private", "direct"]
# Threads sending the generated requests.
SENDERS = 4
SERVER_ERROR = [not_a_server_error]
DOCUMENT = [status_code_conformance, content_type_conformance, response_schema_conformance]
# Along a chain: what was deleted is gone (and stays gone), what was created can be read.
CHAINS = [use_after_free, ensure_resource_availability]
SCOPES = ["read", "write", "follow", "push"]
PASSWORD = "correct horse battery staple"
OOB = "urn:ietf:wg:oauth:2.0:oob"
# Where the fuzzer puts the watched account's ids: path parameters by name, and body fields that
# point at another resource.
TARGETED_PATH_PARAMETERS = {
    "status_id": "statuses",
    "account_id": "accounts",
    "notification_id": "notifications",
    "group_key": "groups",
    "scheduled_id": "scheduled",
    "application_id": "applications",
}
TARGETED_BODY_FIELDS = {"in_reply_to_id": "statuses", "id": "notifications"}
# Operations that always aim at the watched account: on the fuzzer's own app (which the stateful
# scenarios find through `GET /oauth/authorized_applications`) it would revoke its own token and
# leave the rest of the turn to 401s.
ALWAYS_AIMED = {"DELETE /oauth/authorized_applications/{application_id}"}


class StopScenario(Exception):
    """A step got no answer at all (recorded as a finding): the scenario can't go on."""


@dataclass
class Account:
    name: str
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Turn:
    """What one account's fuzzing did, and what it found."""

    fuzzer: str
    watched: str
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    # Findings, by kind: a 5xx (or no answer at all), and an answer outside the document.
    server_errors: list[str] = field(default_factory=list)
    outside_document: list[str] = field(default_factory=list)
    stateful_requests: int = 0
    stateful_findings: int = 0
    broken_chains: list[str] = field(default_factory=list)
    suites: int = 0
    targeted: int = 0
    scenarios: int = 0
    chains: int = 0
    links_followed: Counter[str] = field(default_factory=Counter)
    changed: list[str] = field(default_factory=list)
    compared: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass
class Campaign:
    turns: list[Turn]
    seconds: float
    stack: LocalStack
    # How many operations the document has.
    operations: int
    # What the comparison saw change when the owner itself changed things (`owner_changes`).
    owner_changes: list[str]

    @property
    def requests(self) -> int:
        return sum(turn.requests for turn in self.turns)

    @property
    def by_status(self) -> Counter[int]:
        return sum((turn.by_status for turn in self.turns), Counter())

    def findings(self, kind: str) -> list[str]:
        return [finding for turn in self.turns for finding in getattr(turn, kind)]

    def report(self, failures: list[str]) -> str:
        distinct = sorted(set(failures))
        text = f"{len(failures)} of {self.requests} answers failed:\n" + "\n\n".join(distinct[:20])
        for name in ("gateway", *SERVICES):
            text += f"\n\n--- {name}.log\n{self.stack.log_tail(name)}"
        return text


# -- the stack and the two accounts ----------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(postgres_server: PostgresServer, rabbitmq_server: RabbitMQServer) -> Iterator[LocalStack]:
    rabbitmq_server.start()  # no-op when running; brings it back if a module before this one killed it
    translator = MicrosoftTranslator(key=TRANSLATOR_KEY, region=TRANSLATOR_REGION)
    with (
        translator.serving() as translator_url,
        SmtpSink() as sink,
        LocalStack(
            postgres=postgres_server,
            rabbitmq=rabbitmq_server,
            extra_env={
                "gateway": E2E_GATEWAY_ENV,
                "translate": translate_env(translator_url),
                "notify": {**E2E_NOTIFY_ENV, "SMTP_URL": f"{sink.url}?starttls=false"},
            },
        ) as running,
    ):
        yield running


def register(base_url: str, prefix: str) -> Account:
    """A new account signed in with an app of its own (so revoking one account's app never touches
    the other's token)."""
    client_id, client_secret = Mastodon.create_app(
        f"fuzz-{prefix}", scopes=SCOPES, redirect_uris=OOB, api_base_url=base_url
    )
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
    token = api.create_account(name, PASSWORD, f"{name}@example.com", agreement=True, scopes=SCOPES)
    return Account(name, str(api.account_verify_credentials()["id"]), token)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def seed(http: httpx.Client, owner: Account, other: Account, bystander: Account) -> None:
    """Data of every kind `owner` has, made as its owner would: statuses of every visibility (one
    edited, one a reply), favourites, follows, a scheduled status, markers, email preferences, a
    profile; notifications from `bystander` (a third account the fuzzer never signs in as)."""
    me, them = owner.headers, bystander.headers
    _ok(http.patch("/api/v1/accounts/update_credentials", headers=me,
                   json={"display_name": f"{owner.name} watched", "note": "Keep out."}))  # fmt: skip
    theirs = _ok(http.post("/api/v1/statuses", headers=them, json={"status": f"Hello @{owner.name}"}))
    statuses = [
        _ok(http.post("/api/v1/statuses", headers=me, json={"status": visibility, "visibility": visibility}))
        for visibility in ("public", "unlisted", "private")
    ]
    _ok(http.post("/api/v1/statuses", headers=me,
                  json={"status": f"@{bystander.name} between us", "visibility": "direct"}))  # fmt: skip
    _ok(http.post("/api/v1/statuses", headers=me, json={"status": "A reply", "in_reply_to_id": theirs["id"]}))
    _ok(http.put(f"/api/v1/statuses/{statuses[0]['id']}", headers=me, json={"status": "public, edited"}))
    _ok(http.post(f"/api/v1/statuses/{theirs['id']}/favourite", headers=me))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    _ok(http.post("/api/v1/statuses", headers=me, json={"status": "Later", "scheduled_at": tomorrow}))
    for account in (other, bystander):
        _ok(http.post(f"/api/v1/accounts/{account.id}/follow", headers=me))
    _ok(http.post(f"/api/v1/accounts/{owner.id}/follow", headers=them))
    _ok(http.post(f"/api/v1/statuses/{statuses[0]['id']}/favourite", headers=them))
    _ok(http.patch("/api/v1/notifications/email_preferences", headers=me, json={"favourite": False}))
    # The bystander's mention, follow and favourite reach the owner as three notifications.
    notifications = eventually(
        lambda: _ok(http.get("/api/v1/notifications", headers=me)), lambda found: len(found) >= 3
    )
    _ok(http.post("/api/v1/markers", headers=me,
                  json={"home": {"last_read_id": statuses[1]["id"]},
                        "notifications": {"last_read_id": notifications[-1]["id"]}}))  # fmt: skip


# -- the watched account's data, as its owner reads it ---------------------------------------------

# What may change in an account's data without anyone changing it for the owner: counts (others
# follow and favourite it), and when its app's token was last used (the snapshots use it).
_OTHERS_MAY_CHANGE = {"followers_count", "favourites_count", "reblogs_count", "replies_count", "last_used_at"}


def _normal(value: Any) -> Any:
    """`value` without what others may change: counts, and the embedded accounts of statuses and
    notifications (the fuzzer's own account changes as it fuzzes), which become their ids."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _OTHERS_MAY_CHANGE:
                continue
            if key == "account" and isinstance(item, dict):
                out[key] = item.get("id")
            else:
                out[key] = _normal(item)
        return out
    if isinstance(value, list):
        return [_normal(item) for item in value]
    return value


def snapshot(http: httpx.Client, owner: Account) -> dict[str, Any]:
    me = owner.headers

    def get(path: str, **params: Any) -> Any:
        return _ok(http.get(path, headers=me, params=params))

    statuses = get(f"/api/v1/accounts/{owner.id}/statuses", limit=40)
    notifications = get("/api/v1/notifications", limit=40)
    replied_to = {s["in_reply_to_id"] for s in statuses if s.get("in_reply_to_id")}
    view: dict[str, Any] = {
        "profile": get("/api/v1/accounts/verify_credentials"),
        "statuses": statuses,
        "sources": {s["id"]: get(f"/api/v1/statuses/{s['id']}/source") for s in statuses},
        "histories": {s["id"]: get(f"/api/v1/statuses/{s['id']}/history") for s in statuses},
        # Others' statuses the owner replied to or favourited: nobody but their author edits them.
        "others": {sid: get(f"/api/v1/statuses/{sid}") for sid in sorted(replied_to)},
        "following": [a["id"] for a in get(f"/api/v1/accounts/{owner.id}/following", limit=80)],
        "scheduled": get("/api/v1/scheduled_statuses"),
        "markers": get("/api/v1/markers", **{"timeline[]": ["home", "notifications"]}),
        "email_preferences": get("/api/v1/notifications/email_preferences"),
        "applications": get("/oauth/authorized_applications"),
        # Keyed by id: the fuzzer may add notifications (mention, follow, favourite the owner),
        # never change or remove one.
        "notifications": {n["id"]: n for n in notifications},
    }
    groups = get("/api/v2/notifications")
    view["groups"] = sorted(g["group_key"] for g in groups.get("notification_groups", []))
    return _normal(view)


def targets(view: dict[str, Any]) -> dict[str, list[Any]]:
    """The ids in an account's data the fuzzer aims at."""
    return {
        "statuses": [s["id"] for s in view["statuses"]] + list(view["others"]),
        "accounts": [view["profile"]["id"]],
        "notifications": list(view["notifications"]),
        "groups": view["groups"],
        "scheduled": [s["id"] for s in view["scheduled"]],
        "applications": [a["id"] for a in view["applications"]],
    }


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    found = []
    for key, was in before.items():
        now = after[key]
        if key == "notifications":
            now = {nid: now.get(nid) for nid in was}
        elif key == "groups":
            now = [g for g in now if g in was]
        if now != was:
            found.append(f"{key}: before {was!r}\n  after {now!r}")
    return found


def _count(view: dict[str, Any]) -> int:
    return sum(len(v) if isinstance(v, list | dict) else 1 for v in view.values())


# -- the fuzzing ----------------------------------------------------------------------------------


def _aim(case: Any, aims: dict[str, list[Any]], choose: Callable[[list[Any]], Any]) -> bool:
    """Swaps some of the case's ids for the watched account's (`choose` picks one of the options,
    `None` for "leave it"; reproducibly); True if any was swapped."""
    aimed = False
    keep: list[Any] = [] if case.operation.label in ALWAYS_AIMED else [None]
    for name, kind in TARGETED_PATH_PARAMETERS.items():
        if case.path_parameters and name in case.path_parameters and aims.get(kind):
            choice = choose([*keep, *aims[kind]])
            if choice is not None:
                case.path_parameters[name] = choice
                aimed = True
    if isinstance(case.body, dict):
        for name, kind in TARGETED_BODY_FIELDS.items():
            if name in case.body and aims.get(kind):
                choice = choose([None, *aims[kind]])
                if choice is not None:
                    case.body[name] = choice
                    aimed = True
    return aimed


def _finding(case: Any, exc: BaseException) -> str:
    return f"{case.method} {case.formatted_path}: {str(exc)[:1500]}"


# Errors of this test process's interpreter, not answers of the system under test: CPython 3.11
# raises SystemError ("AST constructor recursion depth mismatch") when two threads build ASTs at
# once, and a module two threads import lazily at the same moment can raise ImportError (both
# seen once in a single-process `make verify`). The step is done again, alone, before it counts.
HARNESS_ERRORS = (SystemError, ImportError)
_alone = threading.Lock()


def _is_harness_error(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_harness_error(e) for e in exc.exceptions)
    return isinstance(exc, HARNESS_ERRORS) or isinstance(exc.__cause__, HARNESS_ERRORS)


def _step(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (Exception, BaseExceptionGroup) as exc:
        if not _is_harness_error(exc):
            raise
        with _alone:
            return fn()


def _send(case: Any, session: requests.Session, base_url: str, fuzzer: Account, turn: Turn) -> Any:
    """Sends `case` as the fuzzer and checks the answer; records both in `turn` (thread-safe)."""
    try:
        response = _step(
            lambda: case.call(base_url=base_url, session=session, headers=fuzzer.headers, timeout=30)
        )
    except Exception as exc:  # a dropped connection is a finding too
        with turn.lock:
            turn.server_errors.append(_finding(case, exc))
        return None
    findings = []
    for checks, kind in ((SERVER_ERROR, "server_errors"), (DOCUMENT, "outside_document")):
        try:
            _step(lambda checks=checks: case.validate_response(response, checks=checks))
        except (Exception, BaseExceptionGroup) as exc:  # collected: one run reports every finding
            findings.append((kind, _finding(case, exc)))
    with turn.lock:
        turn.requests += 1
        turn.operations.add(case.operation.label)
        turn.by_status[response.status_code] += 1
        for kind, finding in findings:
            getattr(turn, kind).append(finding)
    return response


def fuzz_requests(
    schema: Any, base_url: str, fuzzer: Account, aims: dict[str, list[Any]], turn: Turn
) -> None:
    """Generated requests, valid and invalid, for every operation of the document. Hypothesis
    generates them one after another (the same ones every run); a few threads send them, each on a
    keep-alive session, so generating the next request overlaps with the services answering."""
    strategy = schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(GenerationMode.NEGATIVE)
    sessions = threading.local()
    in_flight = threading.BoundedSemaphore(SENDERS * 2)

    def send(case: Any) -> None:
        try:
            if not hasattr(sessions, "session"):
                sessions.session = requests.Session()
            _send(case, sessions.session, base_url, fuzzer, turn)
        finally:
            in_flight.release()

    with ThreadPoolExecutor(SENDERS, thread_name_prefix="fuzz") as pool:

        @settings(
            max_examples=REQUESTS_PER_ACCOUNT,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, data=st.data())
        def fuzz(case: Any, data: st.DataObject) -> None:
            turn.targeted += _aim(case, aims, lambda options: data.draw(st.sampled_from(options)))
            in_flight.acquire()
            pool.submit(send, case)

        fuzz()


def fuzz_statefully(
    schema: Any, base_url: str, fuzzer: Account, aims: dict[str, list[Any]], turn: Turn
) -> None:
    """schemathesis's state machine over the document's links: each scenario starts at an
    operation and follows the links of its answers (the id a create returns into the reads, edits
    and deletes of that resource).

    A live server's answers differ from one run of a scenario to the next, which Hypothesis reports
    as an inconsistent replay; like schemathesis's own runner, a suite that hits one ends there and
    the next suite (a new fixed seed) goes on until the scenarios are spent."""
    picker = random.Random(0)  # reproducible aiming
    session = requests.Session()
    # schemathesis starts no scenario at an operation whose input may name a resource nothing in
    # the document creates (a status's optional `in_reply_to_id` and `media_ids`), yet creating a
    # status is where its chains begin: those operations start scenarios here too.
    likely_root = stateful.is_likely_root_transition

    def root(operation: Any, node: Any, produced: set[str]) -> bool:
        return operation.label in ROOTS or likely_root(operation, node, produced)

    with mock.patch.object(stateful, "is_likely_root_transition", root):
        machine = schema.as_state_machine()

    class Scenarios(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            turn.scenarios += 1
            self.linked = False

        def step(self, input: Any) -> Any:
            if input.transition is None or input.case.operation.label in ALWAYS_AIMED:
                # A scenario's first step may aim at the watched account, as the requests do.
                turn.targeted += _aim(input.case, aims, picker.choice)
            if input.transition is None and input.case.operation.label in ROOTS and picker.random() < 0.5:
                # Half the creates are valid ones, so the chains after them get going (the
                # generated bodies are nearly all refused: a status needs visible text).
                visibility = picker.choice(VISIBILITIES)
                input.case.body = {"status": f"Chain {turn.scenarios}", "visibility": visibility}
                input.case.media_type = "application/json"
            elif input.is_applied:
                turn.links_followed[input.transition.id] += 1
                if not self.linked:
                    self.linked = True
                    turn.chains += 1
            found = len(turn.server_errors) + len(turn.outside_document)
            response = _send(input.case, session, base_url, fuzzer, turn)
            turn.stateful_requests += 1
            turn.stateful_findings += len(turn.server_errors) + len(turn.outside_document) - found
            if response is None:
                raise StopScenario
            self.after_call(response, input.case)  # the scenario's record, which these checks read
            try:
                input.case.validate_response(response, checks=CHAINS, recorder=self.recorder)
            except (Exception, BaseExceptionGroup) as exc:
                turn.broken_chains.append(_finding(input.case, exc))
            return StepOutput(response, input.case)

    for suite in itertools.count():
        left = SCENARIOS_PER_ACCOUNT - turn.scenarios
        if left <= 0 or suite >= MAX_SUITES:
            break
        try:
            hypothesis.seed(suite)(Scenarios).run(
                settings=settings(
                    max_examples=left,
                    stateful_step_count=STEPS_PER_SCENARIO,
                    database=None,
                    deadline=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        except (Flaky, AssertionError, StopScenario) as exc:
            if isinstance(exc, AssertionError) and not is_inconsistent_replay(exc):
                raise
    turn.suites = suite


@pytest.fixture(scope="module")
def campaign(stack: LocalStack) -> Campaign:
    started = time.monotonic()
    base_url = stack.gateway_url
    with httpx.Client(base_url=base_url, timeout=30) as http:
        a, b, c = (register(base_url, prefix) for prefix in ("fuzz_a", "fuzz_b", "bystander"))
        seed(http, a, b, c)
        seed(http, b, a, c)
        doc = _ok(http.get("/api/openapi.json"))
        # The origin (its port) is all that differs between runs; without it the same document
        # gives the same requests every time (derandomized).
        doc.pop("servers", None)
        schema = schemathesis.openapi.from_dict(doc)
        turns = []
        for fuzzer, watched in ((a, b), (b, a)):
            turn = Turn(fuzzer=fuzzer.name, watched=watched.name)
            before = snapshot(http, watched)
            aims = targets(before)
            fuzz_requests(schema, base_url, fuzzer, aims, turn)
            fuzz_statefully(schema, base_url, fuzzer, aims, turn)
            time.sleep(1)  # what the turn published reaches the other services
            after = snapshot(http, watched)
            turn.changed = differences(before, after)
            turn.compared = _count(before)
            turns.append(turn)
        seen = owner_changes(http, a, c)
    operations = sum(1 for item in doc["paths"].values() for method in item if method != "parameters")
    return Campaign(turns, time.monotonic() - started, stack, operations, seen)


def owner_changes(http: httpx.Client, owner: Account, bystander: Account) -> list[str]:
    """The parts of the snapshot that change when the owner edits a status, dismisses a
    notification and moves a marker: proof the comparison sees a change where there is one."""
    mention = _ok(http.post("/api/v1/statuses", headers=bystander.headers, json={"status": f"@{owner.name}"}))

    def mentioned(found: dict[str, Any]) -> bool:
        statuses = [n.get("status") or {} for n in found["notifications"].values()]
        return any(status.get("id") == mention["id"] for status in statuses)

    view = eventually(lambda: snapshot(http, owner), mentioned)
    status = next(s for s in view["statuses"] if s["visibility"] == "public")
    _ok(http.put(f"/api/v1/statuses/{status['id']}", headers=owner.headers, json={"status": "Edited again"}))
    notification = next(iter(view["notifications"]))
    _ok(http.post(f"/api/v1/notifications/{notification}/dismiss", headers=owner.headers))
    _ok(http.post("/api/v1/markers", headers=owner.headers, json={"home": {"last_read_id": status["id"]}}))
    return sorted(change.split(":", 1)[0] for change in differences(view, snapshot(http, owner)))


# -- the rows -------------------------------------------------------------------------------------


def _share(part: int, whole: int) -> str:
    return f"{part:,} ({100 * part / whole:.0f}%)" if whole else "0"


def test_generated_requests_find_no_server_error(campaign: Campaign, record_property) -> None:
    """At least 5,000 generated requests through the gateway, signed in as two accounts: no 5xx."""
    total, by_status = campaign.requests, campaign.by_status
    classes = Counter(f"{status // 100}xx" for status in by_status.elements())
    operations = set().union(*(turn.operations for turn in campaign.turns))
    record_property(
        "figures",
        f"{total:,} requests in {campaign.seconds:.0f} s: "
        + ", ".join(f"{name} {_share(n, total)}" for name, n in sorted(classes.items()))
        + f"; {len(operations)} of {campaign.operations} operations",
    )
    assert total >= 5000, f"only {total} requests were generated"
    # Signed in for real: many requests get through (not a wall of 401s or 429s).
    assert classes["2xx"] > total // 10, by_status
    assert by_status[401] + by_status[429] < total // 10, by_status
    server_errors = campaign.findings("server_errors")
    assert not server_errors, campaign.report(server_errors)


def test_every_answer_matches_the_document(campaign: Campaign, record_property) -> None:
    """Every answer is what the document says: status code, content type, body schema (errors too)."""
    outside = campaign.findings("outside_document")
    record_property("figures", f"{campaign.requests:,} answers checked, {len(outside)} outside the document")
    assert not outside, campaign.report(outside)


def test_stateful_scenarios_follow_the_documents_links(campaign: Campaign, record_property) -> None:
    """Stateful scenarios (a create chained into its reads, edits, deletes): no 5xx, none off the document.

    Each scenario follows the links schemathesis finds in the document from an answer to the
    operations that take its ids."""
    scenarios = sum(turn.scenarios for turn in campaign.turns)
    chains = sum(turn.chains for turn in campaign.turns)
    steps = sum(turn.stateful_requests for turn in campaign.turns)
    links: Counter[str] = sum((turn.links_followed for turn in campaign.turns), Counter())
    record_property(
        "figures",
        f"{scenarios} scenarios, {steps:,} steps, {chains} chains, "
        f"{sum(links.values())} links followed ({len(links)} distinct)",
    )
    followed = {link.rsplit(" -> ", 1)[1] for link in links}
    # A created status is read, edited and deleted through its links.
    assert {"GET /api/v1/statuses/{status_id}", "PUT /api/v1/statuses/{status_id}",
            "DELETE /api/v1/statuses/{status_id}"} <= followed, links  # fmt: skip
    assert chains >= scenarios // 4, (chains, scenarios)
    broken = campaign.findings("broken_chains")
    assert not broken, campaign.report(broken)
    assert sum(turn.stateful_findings for turn in campaign.turns) == 0, campaign.report(
        campaign.findings("server_errors") + campaign.findings("outside_document")
    )


def test_no_request_by_one_account_changes_the_others_data(campaign: Campaign, record_property) -> None:
    """No request by one account changes the other's data, read by its owner before and after, both ways.

    Statuses and their edits, favourites, follows, notifications, markers, email preferences,
    scheduled statuses, authorised apps, profile."""
    aimed = sum(turn.targeted for turn in campaign.turns)
    compared = sum(turn.compared for turn in campaign.turns)
    changed = [f"{turn.fuzzer} changed {turn.watched}'s {change}" for turn in campaign.turns
               for change in turn.changed]  # fmt: skip
    record_property(
        "figures",
        f"{len(campaign.turns)} turns, {aimed:,} requests aimed at the other's ids, "
        f"{compared} items compared, {len(changed)} changed "
        f"(the owner's own changes seen in {len(campaign.owner_changes)} parts)",
    )
    assert aimed >= 500, aimed
    assert not changed, "\n".join(changed)
    # The same comparison does see what the owner changes itself.
    assert {"statuses", "sources", "histories", "notifications", "markers"} <= set(campaign.owner_changes), (
        campaign.owner_changes
    )
