"""Service processes for the reliability tests: the test apps in `apps/` run under uvicorn as
separate OS processes, over the session's PostgreSQL and RabbitMQ."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine

from devstack.servers import PostgresServer, free_port
from microblog_common.internal_auth import sign_request

APPS_DIR = Path(__file__).parent / "apps"
INTERNAL_SECRET = "integration-tests-internal-secret-0123456789"
READY_TIMEOUT = 45.0


class ServiceProcess:
    """One uvicorn process of a test app. `log` holds its JSON log lines."""

    def __init__(self, module: str, env: dict[str, str], log: Path):
        self.module = module
        self.env = env
        self.log = log
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> ServiceProcess:
        """Start the process without waiting (several start in parallel: imports take seconds)."""
        self.port = free_port()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "uvicorn", "--factory", f"{self.module}:create_app",
                    "--app-dir", str(APPS_DIR), "--host", "127.0.0.1", "--port", str(self.port),
                    "--log-level", "warning", "--timeout-graceful-shutdown", "10",
                ],
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def wait_ready(self) -> ServiceProcess:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while self.ready_status() != 200:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.module} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.module} not ready after {READY_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def ready_status(self) -> int:
        try:
            return httpx.get(f"{self.base_url}/health/ready", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    def broker_state(self) -> str | None:
        """What `/health/ready` reports of the broker (readiness itself depends on the database)."""
        try:
            return httpx.get(f"{self.base_url}/health/ready", timeout=5).json()["reports"]["broker"]
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def post(self, path: str, **params: int) -> dict:
        """A request signed as the gateway signs it (services refuse unsigned ones)."""
        target = path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
        headers = sign_request(INTERNAL_SECRET, "POST", target, {})
        response = httpx.post(self.base_url + target, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """A crash: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@pytest.fixture
def make_database(postgres_server: PostgresServer) -> Iterator[Callable[[str], tuple[str, Engine]]]:
    """`url, engine = make_database("consumer")`: a fresh database, dropped afterwards."""
    made: list[tuple[str, Engine]] = []

    def make(label: str) -> tuple[str, Engine]:
        name = f"it_{label}_{uuid.uuid4().hex[:8]}"
        url = postgres_server.create_database(name)
        engine = create_engine(url, pool_size=2)
        made.append((name, engine))
        return url, engine

    yield make
    for name, engine in made:
        engine.dispose()
        postgres_server.drop_database(name)


@pytest.fixture
def launch_service(rabbitmq_url: str, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """`launch_service("consumer_app", database_url, **extra_env).wait_ready()`: a service
    process, stopped at the end of the test (its log tail printed, shown when the test fails)."""
    started: list[ServiceProcess] = []

    def launch(module: str, database_url: str, **extra_env: str) -> ServiceProcess:
        env = {
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "EVENT_BUS": "rabbitmq",
            "INTERNAL_SECRET": INTERNAL_SECRET,
            "ENVIRONMENT": "test",
            "LOG_JSON": "true",
            "LOG_LEVEL": "INFO",
            "CONSUMER_RETRY_DELAYS_SECONDS": "[0.2, 0.4]",
            "OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
            **extra_env,
        }
        service = ServiceProcess(module, env, tmp_path / f"{module}-{len(started)}.log")
        started.append(service)
        return service.launch()

    yield launch
    for service in started:
        service.stop()
        print(f"--- {service.module} (port {service.port}) log tail ---\n{service.log_tail()}")
