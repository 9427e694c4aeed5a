"""The Faults section of `make verify`: the whole microblog (every service its own process over real
PostgreSQL and RabbitMQ, the search and notify consumers in worker processes of their own) under a
concurrent workload through the gateway while the broker, the consumers and a database connection
fail; each service stopped in turn; the embedded mode killed while clients post.

`VERIFY_OPERATIONS` sets the size of the workload: `make verify` makes the issue's 10,000;
without it (`make test`, CI) `DEFAULT_OPERATIONS`, what fits the suite's share of CI's time on a
2-core machine. Clients go on past it until the last fault is over, so
every fault happens under load."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.embedded_process import EmbeddedProcess
from devstack.mail import SmtpSink
from devstack.servers import PostgresServer, RabbitMQServer
from devstack.stack import GATEWAY, LocalStack, worker_name
from devstack.translation_providers import MicrosoftTranslator
from microblog_common.testing import wait_until
from tests.verify.faults_checks import (
    actual_notifications,
    email_problems,
    expected_notifications,
    home_feed_problems,
    notification_problems,
    search_problems,
)
from tests.verify.faults_workload import (
    PASSWORD,
    SCOPES,
    Account,
    Status,
    Truth,
    Workload,
    new_token,
    register,
)

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.timeout(1800)]

DEFAULT_OPERATIONS = 3000
OPERATIONS = int(os.environ.get("VERIFY_OPERATIONS", DEFAULT_OPERATIONS))
CLIENTS = 16
# How long the system may take to hold everything after the last operation and the last fault.
CONVERGE_SECONDS = 300.0
TRANSLATOR_KEY = "verify-translator-key"
GATEWAY_ENV = {
    # Hundreds of accounts from one address, thousands of requests per token: the limits
    # themselves are the attack suite's and the gateway's tests' subject.
    "RATE_LIMIT_REGISTRATION": "100000/minute",
    "RATE_LIMIT_SIGN_IN": "100000/minute",
    "RATE_LIMIT_DEFAULT": "1000000/minute",
    "RATE_LIMIT_PAGES": "1000000/minute",
    # Registrations (Argon2) queue for the users service's threads on a loaded machine.
    "UPSTREAM_TIMEOUT_SECONDS": "120",
    "HEALTH_CHECK_TIMEOUT_SECONDS": "10",
}
# The notify worker (its email sender) is SIGKILLed once in the run.
NOTIFY_SENDER_KILLS = 1
NOTIFY_ENV = {
    # Digests close within a second, so the run's activity emails have all gone out once it converged.
    "EMAIL_DIGEST_WINDOW_SECONDS": "1",
    # Emails the killed sender had claimed wait for their lease to end (120 s by default) before
    # another attempt; a local SMTP server answers in milliseconds.
    "EMAIL_LEASE_SECONDS": "15",
    "EMAIL_POLL_INTERVAL_SECONDS": "0.2",
    "MAIL_FROM": "Microblog <notifications@microblog.test>",
}


@pytest.fixture(scope="module")
def translator() -> Iterator[str]:
    stand_in = MicrosoftTranslator(key=TRANSLATOR_KEY, region=None)
    with stand_in.serving() as url:
        yield url


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQServer]:
    """A RabbitMQ of this module's own: it is killed here, and the session's serves other modules."""
    path = Path(tmp_path_factory.mktemp("faults-rabbitmq"))
    path.chmod(0o755)
    with RabbitMQServer(path) as server:
        yield server


@pytest.fixture(scope="module")
def mailbox() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def stack(
    postgres_server: PostgresServer,
    broker: RabbitMQServer,
    mailbox: SmtpSink,
    translator: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalStack]:
    with LocalStack(
        tmp_path_factory.mktemp("faults-stack"),
        postgres=postgres_server,
        rabbitmq=broker,
        extra_env={
            GATEWAY: GATEWAY_ENV,
            "notify": {**NOTIFY_ENV, "SMTP_URL": f"{mailbox.url}?starttls=false"},
            "translate": {
                "MICROSOFT_TRANSLATOR_KEY": TRANSLATOR_KEY,
                "MICROSOFT_TRANSLATOR_ENDPOINT": translator,
                "TRANSLATION_TIMEOUT_SECONDS": "5",
            },
        },
        workers=("search", "notify"),
        ready_timeout=120,
    ) as running:
        yield running


class FaultSchedule(threading.Thread):
    """The faults, each when the workload has done its share of the operations: RabbitMQ SIGKILLed
    and restarted twice, the search and the notify consumers SIGKILLed mid-stream and started again
    later, and the posts service's PostgreSQL connections cut."""

    def __init__(self, stack: LocalStack, broker: RabbitMQServer, operations: int):
        super().__init__(name="faults", daemon=True)
        self.stack = stack
        self.broker = broker
        self.operations = operations
        self.done = 0
        self.log: list[str] = []
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.steps: list[tuple[float, str, Callable[[], object]]] = [
            (0.05, "RabbitMQ SIGKILL + restart", self._broker_crash),
            (0.20, "search consumer SIGKILL", lambda: stack.kill_service(worker_name("search"))),
            (0.25, "notify consumer SIGKILL", lambda: stack.kill_service(worker_name("notify"))),
            (0.35, "search consumer back", lambda: stack.start_service(worker_name("search"))),
            (0.40, "notify consumer back", lambda: stack.start_service(worker_name("notify"))),
            (0.55, "posts' PostgreSQL connections cut", lambda: stack.cut_database_connections("posts")),
            (0.65, "RabbitMQ SIGKILL + restart", self._broker_crash),
        ]

    def _broker_crash(self) -> None:
        self.broker.kill()
        time.sleep(2)  # a broker that stays down a moment: publishers and consumers notice
        self.broker.start()

    def progress(self, done: int) -> None:
        self.done = done

    def run(self) -> None:
        try:
            for share, what, fault in self.steps:
                while self.done < share * self.operations:
                    time.sleep(0.05)
                at, began = self.done, time.monotonic()
                result = fault()
                suffix = f" ({result})" if isinstance(result, int) else ""
                took = time.monotonic() - began
                self.log.append(f"{what}{suffix} at op {at:,} ({took:.0f} s)")
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.finished.set()


def _converge(check: Callable[[], list[str]], started: float) -> tuple[list[str], float, float]:
    """Runs the checks until they hold or `CONVERGE_SECONDS` passed: their last problems, how long
    after `started` they were seen to hold (an upper bound: the end of the round that passed), and
    how long that round of checks took."""
    while True:
        began = time.monotonic()
        problems = check()
        elapsed = time.monotonic() - started
        if not problems or elapsed > CONVERGE_SECONDS:
            return problems, elapsed, time.monotonic() - began
        # What is still on its way, in the output of a run that converges slowly.
        print(f"not converged after {elapsed:.0f} s: {len(problems)} problems, first: {problems[0][:300]}")
        time.sleep(3)


def test_no_acknowledged_operation_is_lost_or_doubled_under_faults(
    stack: LocalStack,
    broker: RabbitMQServer,
    mailbox: SmtpSink,
    record_property: Callable[[str, object], None],
) -> None:
    """Concurrent operations survive a broker, consumers and a database failing: none lost or doubled.

    Posts (with mentions and replies), follows, unfollows, favourites, edits and deletes by
    concurrent clients through the gateway, while RabbitMQ is SIGKILLed and restarted twice, the
    search and notify consumers are SIGKILLed mid-stream and posts' PostgreSQL connections are cut.
    Afterwards every live post is found by search and no deleted or pre-edit text is, every
    expected notification exists exactly once, every expected email was sent once, every home
    feed holds what the posts service's rules say, and no dead-letter queue holds anything."""
    truth = Truth()
    accounts = min(100, max(24, OPERATIONS // 100))
    faults = FaultSchedule(stack, broker, OPERATIONS)

    async def workload() -> float:
        limits = httpx.Limits(max_connections=CLIENTS * 2)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60, limits=limits) as http:
            gate = asyncio.Semaphore(8)

            async def one(n: int) -> None:
                async with gate:
                    await register(http, truth, f"f{n:03d}")

            await asyncio.gather(*(one(n) for n in range(accounts)))
            started = time.monotonic()
            faults.start()
            workload = Workload(http, truth, OPERATIONS, CLIENTS, until=faults.finished.is_set)
            await workload.run(faults.progress)
            return time.monotonic() - started

    run_seconds = asyncio.run(workload())
    faults.join(timeout=300)
    assert faults.error is None, f"a fault could not be made: {faults.error!r}"
    assert len(faults.log) == len(faults.steps), faults.log
    ended = time.monotonic()

    expected = expected_notifications(truth)

    def check() -> list[str]:
        async def read() -> list[str]:
            async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
                problems = notification_problems(expected, await actual_notifications(http, truth))
                problems += await search_problems(http, truth)
                problems += await home_feed_problems(http, truth)
            return problems

        problems = asyncio.run(read())
        problems += email_problems(mailbox.received(), truth, expected, NOTIFY_SENDER_KILLS)[0]
        queued = stack.queued_messages()
        problems += [f"queue {name} holds {count}" for name, count in queued.items() if count]
        return problems

    problems, converged, round_seconds = _converge(check, ended)
    repeats = email_problems(mailbox.received(), truth, expected, NOTIFY_SENDER_KILLS)[1]
    print("\n".join(["faults:", *faults.log, f"retried answers: {dict(truth.retried)}"]))
    assert not problems, "\n".join(problems[:40])
    assert not truth.server_errors, f"5xx answers other than 502/503/504: {dict(truth.server_errors)}"
    kinds = ", ".join(f"{truth.operations[k]:,} {k}s" for k in Workload.WEIGHTS if truth.operations[k])
    retried = sum(truth.retried.values())
    figures = (
        f"{truth.total:,} operations by {CLIENTS} clients as {accounts} accounts in {run_seconds:.0f} s "
        f"({kinds}); 0 lost; 0 duplicate posts, notifications or feed entries; {repeats} email re-sent "
        f"with its Message-ID (in flight at the notify worker's SIGKILL), no other; converged within "
        f"{converged:.0f} s (one round of checks: {round_seconds:.0f} s); faults: "
        f"{'; '.join(faults.log)}; {retried:,} answers retried during faults"
    )
    print(figures)
    record_property("figures", figures)


# -- a service down ----------------------------------------------------------------------------

# What each stopped service's own API answers (503 in the API's error format while it is down).
DOWN_PROBES: dict[str, tuple[str, str]] = {
    "search": ("GET", "/api/v2/search?q=anything&type=statuses"),
    "translate": ("POST", "/api/v1/statuses/{status}/translate"),
    "notify": ("GET", "/api/v1/notifications"),
}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


class Caller:
    """A signed-in client, sync: what the service-down scenario does one request at a time."""

    def __init__(self, url: str, account: Account):
        self.account = account
        self.http = httpx.Client(
            base_url=url, timeout=30, headers={"Authorization": f"Bearer {account.token}"}
        )

    def post(self, text: str, **fields: str) -> httpx.Response:
        return self.http.post("/api/v1/statuses", data={"status": text, **fields})


def _sign_in(url: str, account: Account) -> int:
    with httpx.Client(base_url=url, timeout=60) as http:
        app = http.post(
            "/api/v1/apps",
            data={"client_name": "down", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": SCOPES},
        ).json()
        return http.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "username": account.username,
                "password": PASSWORD,
                "scope": SCOPES,
            },
        ).status_code


def _caught_up(
    service: str, alice: Caller, bob: Caller, carol: Account, token: str, status_id: str, spanish_id: str
) -> bool:
    """Whether what happened while `service` was down has reached it."""
    if service == "search":
        found = alice.http.get("/api/v2/search", params={"q": token, "type": "statuses"})
        return found.status_code == 200 and status_id in [s["id"] for s in found.json()["statuses"]]
    if service == "translate":
        translated = alice.http.post(f"/api/v1/statuses/{spanish_id}/translate", data={"lang": "en"})
        return translated.status_code == 200
    if service == "notify":
        followers = alice.http.get("/api/v1/notifications", params={"types[]": "follow"}).json()
        mentions = bob.http.get("/api/v1/notifications", params={"types[]": "mention"}).json()
        return any(n["account"]["id"] == carol.id for n in followers) and any(
            (n.get("status") or {}).get("id") == status_id for n in mentions
        )
    return alice.http.get("/", headers=BROWSER).status_code < 400  # the page, or where it sends you


def test_with_a_service_down_the_rest_works_and_it_catches_up(
    stack: LocalStack, record_property: Callable[[str, object], None]
) -> None:
    """With search, translate, notify or web stopped, posting, timelines and sign-in work; it catches up.

    Each stopped in turn (its API and its worker, SIGTERM): posting, the home timeline and a
    password sign-in answer 200; what needs the missing service answers 503 in the API's error
    format (`{"error": ...}`), a web page says so in words; once it is back, what happened meanwhile
    reaches it: the post made while search was down is found, the follow and mention made while
    notify was down are notified, the status posted while translate was down translates, pages serve."""
    truth = Truth()

    async def accounts() -> list[Account]:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=120) as http:
            return [await register(http, truth, name) for name in ("downa", "downb", "downc")]

    alice, bob, carol = (Caller(stack.gateway_url, a) for a in asyncio.run(accounts()))
    assert bob.http.post(f"/api/v1/accounts/{alice.account.id}/follow").status_code == 200
    anonymous = httpx.Client(base_url=stack.gateway_url, timeout=30)
    requests = 0
    catch_up: list[float] = []
    for service in ("search", "translate", "notify", "web"):
        processes = [service] + ([worker_name(service)] if service in stack.workers else [])
        for name in processes:
            stack.stop_service(name)
        token = new_token()
        posted = alice.post(f"{token} hello @{bob.account.username} while {service} is down")
        assert posted.status_code == 200, (service, posted.text)
        status_id = posted.json()["id"]
        spanish = alice.post(f"{new_token()} hola amigos, el servicio está caído", language="es")
        assert spanish.status_code == 200, (service, spanish.text)
        home = bob.http.get("/api/v1/timelines/home")
        assert home.status_code == 200 and status_id in [s["id"] for s in home.json()], (service, home.text)
        assert _sign_in(stack.gateway_url, alice.account) == 200, service
        followed = carol.http.post(f"/api/v1/accounts/{alice.account.id}/follow")
        assert followed.status_code == 200, (service, followed.text)
        requests += 6
        if service in DOWN_PROBES:
            method, path = DOWN_PROBES[service]
            answer = alice.http.request(method, path.format(status=spanish.json()["id"]))
            assert answer.status_code == 503, (service, answer.status_code, answer.text)
            assert answer.json() == {"error": f"The {service} service is unavailable"}
            requests += 1
        if service == "search":
            page = anonymous.get("/search", params={"q": token}, headers=BROWSER)
            assert page.status_code == 503 and "Search is unavailable right now" in page.text, page.text[
                :2000
            ]
            requests += 1
        if service == "web":
            page = anonymous.get("/", headers=BROWSER)
            assert page.status_code == 503 and "unavailable right now" in page.text, page.text[:2000]
            requests += 1
        for name in processes:
            stack.start_service(name)
        back = time.monotonic()
        caught_up = functools.partial(
            _caught_up, service, alice, bob, carol.account, token, status_id, spanish.json()["id"]
        )
        assert wait_until(caught_up, timeout=60, interval=0.5), f"what happened while {service} was down"
        catch_up.append(time.monotonic() - back)
        assert carol.http.post(f"/api/v1/accounts/{alice.account.id}/unfollow").status_code == 200
    figures = (
        f"search, translate, notify, web stopped in turn; {requests} requests while down, each as "
        f"expected (posting, home timeline, sign-in 200; the missing service 503); caught up within "
        f"{max(catch_up):.0f} s of each return; 0 lost"
    )
    record_property("figures", figures)


# -- the embedded mode killed --------------------------------------------------------------------

EMBEDDED_CLIENTS = 8
# Posts acknowledged before the kill (the kill comes once this many are, mid-stream).
EMBEDDED_POSTS_BEFORE_KILL = 150


def test_embedded_mode_sigkilled_while_clients_post_keeps_every_acknowledged_post(
    tmp_path_factory: pytest.TempPathFactory, record_property: Callable[[str, object], None]
) -> None:
    """`make run` SIGKILLed while clients post: every acknowledged post survives, its events delivered.

    Clients post (each mentioning the same account, each with an `Idempotency-Key`) until the
    process is SIGKILLed mid-stream; it is started again on the same data folder. Every post
    answered 200 before the kill is there, found by search and notified to whom it mentions,
    exactly once; a post whose answer the kill cut off is sent again with its key, as a client
    would, and counts once whatever the first attempt did."""
    data = tmp_path_factory.mktemp("embedded-killed") / "data"
    env = {**GATEWAY_ENV, **NOTIFY_ENV}
    embedded = EmbeddedProcess(data, env=env)
    truth = Truth()
    with embedded:
        acked: list[Status] = []
        in_flight: dict[str, tuple[str, str]] = {}  # token -> (key, text) of posts cut off

        async def before_kill() -> tuple[Account, Account]:
            async with httpx.AsyncClient(base_url=embedded.gateway_url, timeout=60) as http:
                author = await register(http, truth, "crasha")
                reader = await register(http, truth, "crashb")
                killed = asyncio.Event()

                async def client() -> None:
                    while not killed.is_set():
                        token, key = new_token(), str(uuid.uuid4())
                        text = f"{token} @{reader.username} before the crash"
                        in_flight[token] = (key, text)
                        try:
                            response = await http.post(
                                "/api/v1/statuses",
                                data={"status": text},
                                headers={"Authorization": f"Bearer {author.token}", "Idempotency-Key": key},
                            )
                        except httpx.TransportError:
                            return  # the process is gone: this one stays in flight
                        assert response.status_code == 200, response.text
                        del in_flight[token]
                        acked.append(_status(response.json()["id"], author, reader, token))
                        if len(acked) >= EMBEDDED_POSTS_BEFORE_KILL and not killed.is_set():
                            killed.set()
                            embedded.kill()

                await asyncio.gather(*(client() for _ in range(EMBEDDED_CLIENTS)))
                return author, reader

        author, reader = asyncio.run(before_kill())
        before = len(acked)
        embedded.start()
        restarted = time.monotonic()

        async def after_restart() -> list[str]:
            async with httpx.AsyncClient(base_url=embedded.gateway_url, timeout=60) as http:
                headers = {"Authorization": f"Bearer {author.token}"}
                for token, (key, text) in in_flight.items():  # the client's retries, same key
                    response = await http.post(
                        "/api/v1/statuses", data={"status": text}, headers={**headers, "Idempotency-Key": key}
                    )
                    assert response.status_code == 200, response.text
                    acked.append(_status(response.json()["id"], author, reader, token))
                missing = [
                    s.id
                    for s in acked
                    if (await http.get(f"/api/v1/statuses/{s.id}", headers=headers)).status_code != 200
                ]
                return (
                    [f"{len(missing)} acknowledged posts gone after the restart: {missing[:5]}"]
                    if missing
                    else []
                )

        gone = asyncio.run(after_restart())
        assert not gone, gone
        for status in acked:
            truth.statuses[status.id] = status
        expected = expected_notifications(truth)

        def check() -> list[str]:
            async def read() -> list[str]:
                async with httpx.AsyncClient(base_url=embedded.gateway_url, timeout=60) as http:
                    problems = notification_problems(expected, await actual_notifications(http, truth))
                    return problems + await search_problems(http, truth)

            return asyncio.run(read())

        problems, converged, _ = _converge(check, restarted)
        assert not problems, "\n".join(problems)
    figures = (
        f"{before} posts acknowledged before the SIGKILL by {EMBEDDED_CLIENTS} clients, "
        f"{len(acked) - before} cut off and resent with their key; all {len(acked)} there after the restart, "
        "found by search and"
        f" notified once; 0 lost, 0 duplicates; converged within {converged:.0f} s of the restart"
    )
    record_property("figures", figures)


def _status(status_id: str, author: Account, reader: Account, token: str) -> Status:
    return Status(
        id=status_id, author=author.id, token=token, mentions=frozenset({reader.id}),
        reply_to_account=None, deletable=False,
    )  # fmt: skip
