"""The Faults section of `make verify`: the whole microblog (every service its own process over real
PostgreSQL and RabbitMQ, the search and notify consumers in worker processes of their own) under a
concurrent workload through the gateway while the broker, the consumers and a database connection
fail; each service stopped in turn; the embedded mode killed while clients post.

`VERIFY_OPERATIONS` sets the size of the workload (default `DEFAULT_OPERATIONS`, what fits the
suite's share of CI's time on a 2-core machine; the issue's 10,000 run with
`VERIFY_OPERATIONS=10000 make verify`)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.mail import SmtpSink
from devstack.servers import PostgresServer, RabbitMQServer
from devstack.stack import GATEWAY, LocalStack, worker_name
from devstack.translation_providers import MicrosoftTranslator
from tests.verify.faults_checks import (
    actual_notifications,
    email_problems,
    expected_notifications,
    home_feed_problems,
    notification_problems,
    search_problems,
)
from tests.verify.faults_workload import Truth, Workload, register

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
NOTIFY_ENV = {
    # Digests close within a second, so the run's activity emails have all gone out once it converged.
    "EMAIL_DIGEST_WINDOW_SECONDS": "1",
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
        self.steps: list[tuple[float, str, Callable[[], object]]] = [
            (0.10, "RabbitMQ SIGKILLed and restarted", self._broker_crash),
            (0.25, "search consumer SIGKILLed", lambda: stack.kill_service(worker_name("search"))),
            (0.40, "search consumer started", lambda: stack.start_service(worker_name("search"))),
            (0.45, "notify consumer SIGKILLed", lambda: stack.kill_service(worker_name("notify"))),
            (0.60, "notify consumer started", lambda: stack.start_service(worker_name("notify"))),
            (0.65, "posts' PostgreSQL connections cut", lambda: stack.cut_database_connections("posts")),
            (0.80, "RabbitMQ SIGKILLed and restarted again", self._broker_crash),
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
                at = self.done
                result = fault()
                suffix = f" ({result})" if isinstance(result, int) else ""
                self.log.append(f"{what}{suffix} at operation {at:,}")
        except BaseException as exc:  # reported by the test
            self.error = exc


def _converge(check: Callable[[], list[str]], started: float) -> tuple[list[str], float]:
    """Runs the checks until they hold or `CONVERGE_SECONDS` passed; their last problems, and
    how long after `started` they held."""
    while True:
        problems = check()
        elapsed = time.monotonic() - started
        if not problems or elapsed > CONVERGE_SECONDS:
            return problems, elapsed
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
            await Workload(http, truth, OPERATIONS, CLIENTS).run(faults.progress)
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
        problems += email_problems(mailbox.received(), truth, expected)[0]
        queued = stack.queued_messages()
        problems += [f"queue {name} holds {count}" for name, count in queued.items() if count]
        return problems

    problems, converged = _converge(check, ended)
    print("\n".join(["faults:", *faults.log, f"retried answers: {dict(truth.retried)}"]))
    assert not problems, "\n".join(problems[:40])
    assert not truth.server_errors, f"5xx answers other than 502/503/504: {dict(truth.server_errors)}"
    kinds = ", ".join(f"{truth.operations[k]:,} {k}s" for k in Workload.WEIGHTS if truth.operations[k])
    retried = sum(truth.retried.values())
    figures = (
        f"{truth.total:,} operations by {CLIENTS} clients as {accounts} accounts in {run_seconds:.0f} s "
        f"({kinds}); 0 lost, 0 duplicates; converged in {converged:.0f} s; faults: "
        f"{'; '.join(faults.log)}; {retried:,} answers retried during faults"
    )
    print(figures)
    record_property("figures", figures)
