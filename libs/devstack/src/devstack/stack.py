"""The local-processes mode: every service and the gateway as its own uvicorn process, over a real
PostgreSQL (one database per service) and a real RabbitMQ (one vhost per stack).

Used by the end-to-end and reliability tests and the benchmarks, and by `python -m devstack stack`.
Several stacks can share one PostgreSQL and one RabbitMQ server (the test session's): each stack
gets fresh database names, a fresh vhost and its own internal secret."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from devstack.servers import PostgresServer, RabbitMQServer, free_port

# In start order: a service another one calls (CALLS) comes before its caller.
SERVICES = ("users", "posts", "search", "translate", "notify", "web")
# The services that take part in events (an event lane that can run as a worker of its own). The
# web UI publishes and consumes none: it runs on the in-process bus, without the broker.
EVENT_SERVICES = ("users", "posts", "search", "translate", "notify")
GATEWAY = "gateway"
# Who calls whom synchronously (posts asks users for an author's current posting defaults).
CALLS: dict[str, tuple[str, ...]] = {"posts": ("users",)}


WORKER_SUFFIX = "-worker"


def worker_name(service: str) -> str:
    return service + WORKER_SUFFIX


HOST = "127.0.0.1"
LOG_TAIL_LINES = 60
# uvicorn waits this long for open connections (e.g. live streams) at SIGTERM before closing them.
GRACEFUL_SHUTDOWN_SECONDS = 5


class StackError(RuntimeError):
    """A process of the stack failed to start or to become ready."""


@dataclass
class _Process:
    name: str
    app: str  # "<module>:<factory>" for uvicorn, or "<module>" run with `python -m` (a worker)
    port: int
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def is_worker(self) -> bool:
        return ":" not in self.app

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _migrate(service: str, database_url: str) -> None:
    # Imported here: only the migrating parent needs the service packages loaded.
    from microblog_common.migrations import upgrade_to_head

    module = __import__(f"{service}.app", fromlist=["SPEC"])
    upgrade_to_head(module.SPEC.migrations, database_url)


class LocalStack:
    """`with LocalStack(postgres=pg, rabbitmq=mq) as stack: httpx.get(stack.gateway_url + ...)`.

    Without `postgres`/`rabbitmq` the stack starts (and later stops) its own servers in `base_dir`.
    `extra_env` maps a process name ("users", ..., "gateway") to env vars added to (or overriding)
    what the stack sets. Without `base_dir` a temp dir is used and removed at a clean stop; the
    logs of a stack that failed to start are kept and their path is in the exception.

    `workers` names services whose event lane runs in a worker process of its own
    (`python -m <service>.worker`, process name `<service>-worker`) instead of in the API process
    (`EVENT_WORKERS_IN_PROCESS=false`), as a deployment that scales them apart does."""

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        postgres: PostgresServer | None = None,
        rabbitmq: RabbitMQServer | None = None,
        extra_env: Mapping[str, Mapping[str, str]] | None = None,
        gateway_port: int | None = None,
        ready_timeout: float = 60.0,
        workers: tuple[str, ...] = (),
    ):
        self._extra_env = {name: dict(env) for name, env in (extra_env or {}).items()}
        unknown = (set(self._extra_env) | set(workers)) - {*SERVICES, GATEWAY}
        if unknown or not set(workers) <= set(EVENT_SERVICES):
            raise ValueError(f"extra_env or workers for unknown processes: {sorted(unknown)}")
        self.workers = tuple(workers)
        self._owns_base_dir = base_dir is None
        if base_dir is None:
            base_dir = Path(tempfile.mkdtemp(prefix="microblog-stack-"))
            # mkdtemp makes it private; the PostgreSQL this stack may start runs as `postgres`.
            base_dir.chmod(0o755)
        self.base_dir = Path(base_dir)
        self._postgres = postgres
        self._rabbitmq = rabbitmq
        self._owns_postgres = postgres is None
        self._owns_rabbitmq = rabbitmq is None
        self._gateway_port = gateway_port
        self.ready_timeout = ready_timeout
        # Fresh names per stack so several stacks can share one PostgreSQL and one RabbitMQ.
        self.stack_id = secrets.token_hex(4)
        self.internal_secret = secrets.token_urlsafe(36)  # 48 characters
        self.database_urls: dict[str, str] = {}
        self.rabbitmq_url: str | None = None
        self._vhost: str | None = None
        self._processes: dict[str, _Process] = {}
        self._failed = False

    # -- public surface ---------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return self._processes[GATEWAY].url

    @property
    def service_urls(self) -> dict[str, str]:
        return {name: self._processes[name].url for name in SERVICES}

    def pid(self, name: str) -> int | None:
        """The process id (its process group too) while it runs; benchmarks read its CPU time."""
        process = self._process(name)
        return process.popen.pid if process.running() and process.popen else None

    def env(self, name: str) -> dict[str, str]:
        """The environment a process runs with (what a tool of that service needs, e.g. the
        search service's `python -m search.manage rebuild`)."""
        return dict(self._process(name).env)

    def log_path(self, name: str) -> Path:
        return self._process(name).log_path

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        return _tail(self.log_path(name), lines)

    def start(self) -> LocalStack:
        try:
            self._start_servers()
            self._create_databases()
            for service in SERVICES:
                _migrate(service, self.database_urls[service])
            # Chosen first: every service builds its public URLs from the gateway's origin.
            self._gateway_port = self._gateway_port or free_port()
            for service in SERVICES:
                self._processes[service] = self._new_process(
                    service, f"{service}.app:create_app", free_port()
                )
                self._spawn(self._processes[service])
            for service in self.workers:
                worker = worker_name(service)
                self._processes[worker] = self._new_process(worker, f"{service}.worker", free_port())
                self._spawn(self._processes[worker])
            self._wait_ready([*SERVICES, *map(worker_name, self.workers)])
            # The gateway last: its readiness aggregates every service's.
            self._processes[GATEWAY] = self._new_process(
                GATEWAY, "gateway.app:create_app", self._gateway_port
            )
            self._spawn(self._processes[GATEWAY])
            self._wait_ready([GATEWAY])
        except BaseException:
            self._failed = True
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Gateway first (so no request reaches a service that is shutting down), then the services
        together; then this stack's databases and vhost, then the servers it started."""
        gateway = self._processes.get(GATEWAY)
        if gateway is not None:
            self._terminate([gateway])
        self._terminate([p for name, p in self._processes.items() if name != GATEWAY])
        self._drop_databases()
        if self._owns_rabbitmq and self._rabbitmq is not None:
            self._rabbitmq.stop()
            self._rabbitmq = None
        if self._owns_postgres and self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
        if self._owns_base_dir and not self._failed:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def kill_service(self, name: str) -> None:
        """SIGKILL one process (a crash: no graceful shutdown, no lifespan exit)."""
        process = self._process(name)
        if process.running():
            assert process.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait()

    def stop_service(self, name: str) -> None:
        """SIGTERM one process and wait for it (a graceful shutdown, like a redeploy)."""
        self._terminate([self._process(name)])

    def start_service(self, name: str) -> None:
        """Start a stopped or killed process again on the same port, and wait until it is ready."""
        process = self._process(name)
        if process.running():
            raise StackError(f"{name} is already running")
        self._spawn(process)
        self._wait_ready([name])

    def start_replica(self, name: str, env: Mapping[str, str] | None = None) -> str:
        """Another process of a service (same database, broker and settings, its own port), e.g.
        a second notify replica, or a second gateway with other settings (`env` is added to the
        original's environment); returns its URL. Stopped with the stack."""
        original = self._process(name)
        index = sum(1 for n in self._processes if n.startswith(f"{name}#")) + 2
        replica = _Process(
            name=f"{name}#{index}",
            app=original.app,
            port=free_port(),
            env={**original.env, **(env or {})},
            log_path=self.base_dir / f"{name}-{index}.log",
        )
        self._processes[replica.name] = replica
        self._spawn(replica)
        self._wait_ready([replica.name])
        return replica.url

    def restart_service(self, name: str) -> None:
        self.stop_service(name)
        self.start_service(name)

    # -- faults and what the broker holds ---------------------------------------------------

    def cut_database_connections(self, service: str) -> int:
        """Terminates every connection a service (and its worker) holds to its database, as a
        database failover or a network cut would; returns how many were cut. The service must
        reconnect by itself."""
        assert self._postgres is not None, "the stack is not started"
        return self._postgres.terminate_connections(f"{service}_{self.stack_id}")

    @property
    def vhost(self) -> str:
        assert self._vhost is not None, "the stack is not started"
        return self._vhost

    def queued_messages(self) -> dict[str, int]:
        """Messages waiting in each of this stack's queues (consumers' queues, their retry and
        dead-letter queues), read over AMQP: what is still to be delivered."""
        assert self._rabbitmq is not None, "the stack is not started"
        return self._rabbitmq.ready_messages(self.vhost, self._rabbitmq.queue_names(self.vhost))

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- servers, databases -----------------------------------------------------------------

    def _start_servers(self) -> None:
        if self._postgres is None:
            self._postgres = PostgresServer(self.base_dir / "postgres")
            self._postgres.start()
        if self._rabbitmq is None:
            self._rabbitmq = RabbitMQServer(self.base_dir / "rabbitmq")
            self._rabbitmq.start()

    def _create_databases(self) -> None:
        assert self._postgres is not None and self._rabbitmq is not None
        for service in SERVICES:
            self.database_urls[service] = self._postgres.create_database(f"{service}_{self.stack_id}")
        self._vhost = f"stack_{self.stack_id}"
        self.rabbitmq_url = self._rabbitmq.create_vhost(self._vhost)

    def _drop_databases(self) -> None:
        # Only on shared servers: a server this stack started goes away whole. Best effort, so
        # a failed drop never hides the error that made the stack stop.
        if not self._owns_postgres and self._postgres is not None:
            for service, _url in list(self.database_urls.items()):
                with contextlib.suppress(Exception):
                    self._postgres.drop_database(f"{service}_{self.stack_id}")
            self.database_urls.clear()
        if not self._owns_rabbitmq and self._rabbitmq is not None and self._vhost is not None:
            with contextlib.suppress(Exception):
                self._rabbitmq.delete_vhost(self._vhost)
            self._vhost = None

    # -- processes --------------------------------------------------------------------------

    def _process(self, name: str) -> _Process:
        try:
            return self._processes[name]
        except KeyError:
            raise KeyError(f"no process {name!r}; known: {sorted(self._processes)}") from None

    def _new_process(self, name: str, app: str, port: int) -> _Process:
        env = {
            "INTERNAL_SECRET": self.internal_secret,
            "ENVIRONMENT": "test",
            "LOG_JSON": "true",
            "PUBLIC_URL": f"http://{HOST}:{self._gateway_port}",
        }
        service = name.removesuffix(WORKER_SUFFIX)
        if name == GATEWAY:
            env |= {f"{service.upper()}_URL": self._processes[service].url for service in SERVICES}
        elif service not in EVENT_SERVICES:
            # The web UI: its own database, the API through the gateway like any client.
            env |= {
                "DATABASE_URL": self.database_urls[service],
                "EVENT_BUS": "memory",
                "GATEWAY_URL": f"http://{HOST}:{self._gateway_port}",
            }
        else:
            assert self.rabbitmq_url is not None
            env |= {
                "DATABASE_URL": self.database_urls[service],
                "EVENT_BUS": "rabbitmq",
                "RABBITMQ_URL": self.rabbitmq_url,
            }
            # Services that call another one directly (started before them, see SERVICES).
            env |= {f"{callee.upper()}_URL": self._processes[callee].url for callee in CALLS.get(service, ())}
            if service in self.workers:
                env |= {"EVENT_WORKERS_IN_PROCESS": "false", "WORKER_HOST": HOST, "WORKER_PORT": str(port)}
        if service == "search":
            # The embedded index (the API and its worker share the folder: one writes, both read),
            # unless extra_env gives ELASTICSEARCH_URL; the rebuild tool reads the exports of the
            # two services started before it.
            env |= {
                "SEARCH_INDEX_DIR": str(self.base_dir / "search-index"),
                "USERS_URL": self._processes["users"].url,
                "POSTS_URL": self._processes["posts"].url,
            }
        env |= self._extra_env.get(service, {})
        return _Process(name=name, app=app, port=port, env=env, log_path=self.base_dir / f"{name}.log")

    def _spawn(self, process: _Process) -> None:
        args = [
            sys.executable, "-m", "uvicorn", "--factory", process.app,
            "--host", HOST, "--port", str(process.port),
            "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS),
        ] if not process.is_worker else [sys.executable, "-m", process.app]  # fmt: skip
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with process.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting {' '.join(args)}\n".encode())
            log.flush()
            # Own process group: stopping the stack stops everything the process started, and a
            # Ctrl-C in the terminal reaches only the parent, which then stops the group in order.
            process.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                args,
                env={**os.environ, **process.env},
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _terminate(self, processes: list[_Process], timeout: float = GRACEFUL_SHUTDOWN_SECONDS + 5) -> None:
        running = [p for p in processes if p.running()]
        for process in running:
            assert process.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            assert process.popen is not None
            try:
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()

    def _wait_ready(self, names: list[str]) -> None:
        deadline = time.monotonic() + self.ready_timeout
        pending = list(names)
        last: dict[str, str] = {}
        with httpx.Client(timeout=3.0) as client:
            while pending:
                for name in list(pending):
                    process = self._processes[name]
                    if not process.running():
                        code = process.popen.returncode if process.popen else None
                        raise StackError(
                            f"{name} exited with code {code} before it was ready; "
                            f"log {process.log_path}:\n{_tail(process.log_path)}"
                        )
                    try:
                        response = client.get(f"{process.url}/health/ready")
                    except httpx.HTTPError as exc:
                        last[name] = f"{type(exc).__name__}: {exc}"
                        continue
                    if response.status_code == 200:
                        pending.remove(name)
                    else:
                        last[name] = f"HTTP {response.status_code}: {response.text[:500]}"
                if not pending:
                    return
                if time.monotonic() > deadline:
                    name = pending[0]
                    raise StackError(
                        f"not ready within {self.ready_timeout:.0f}s: {pending}; {name}'s last answer: "
                        f"{last.get(name)}; log {self._processes[name].log_path}:\n"
                        f"{_tail(self._processes[name].log_path)}"
                    )
                time.sleep(0.2)
