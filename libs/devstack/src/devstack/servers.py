"""Real PostgreSQL and RabbitMQ on loopback, started from the OS packages (no Docker here).

Used by the test session and the local-processes mode. The recipes (and why each setting is there)
are in notes/LOCAL-SERVERS.md: PostgreSQL's tools refuse root so they run as the `postgres` user;
RabbitMQ runs as root with everything (node name, ports, epmd, data, logs) private to a base dir,
so several servers can share the machine and an unclean previous run does not get in the way.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
import psycopg2
from psycopg2 import sql

T = TypeVar("T")

HOST = "127.0.0.1"
# Never the kernel's ephemeral range (32768-60999): another process could be handed the port.
PORT_RANGE = (20000, 32000)
POSTGRES_LIB = Path("/usr/lib/postgresql")
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
OWNER_FILE = "owner.pid"


class ServerError(RuntimeError):
    """A server did not start or stop; the message ends with the tail of its log."""


# -- ports ---------------------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port_block(size: int) -> int:
    """The first of `size` consecutive free ports (RabbitMQ uses its port and the next 13)."""
    low, high = PORT_RANGE
    for _ in range(500):
        # Random, so that concurrent sessions on the machine rarely race for the same port.
        first = random.randint(low, high - size)
        if all(_port_is_free(first + i) for i in range(size)):
            return first
    raise ServerError(f"no block of {size} free ports in {low}-{high}")


def free_port() -> int:
    return _free_port_block(1)


# -- binaries ------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin dir (/usr/lib/postgresql/<major>/bin)."""
    if not POSTGRES_LIB.is_dir():
        return None
    candidates = [
        p / "bin" for p in POSTGRES_LIB.iterdir() if p.name.isdigit() and (p / "bin" / "initdb").exists()
    ]
    return max(candidates, key=lambda p: int(p.parent.name), default=None)


def missing_server_packages() -> list[str]:
    missing = []
    if postgres_bin_dir() is None:
        missing.append("postgresql")
    if not (RABBITMQ_BIN / "rabbitmq-server").exists() or shutil.which("epmd") is None:
        missing.append("rabbitmq-server")
    return missing


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until(
    check: Callable[[], object],
    timeout: float,
    what: str,
    log: Path,
    alive: Callable[[], bool] = lambda: True,
) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not alive():
            raise ServerError(f"{what}: the process exited\n{_log_tail(log)}")
        try:
            if check():
                return
        except Exception as exc:
            last_error = exc
        time.sleep(0.2)
    raise ServerError(f"{what}: not ready after {timeout:.0f}s ({last_error})\n{_log_tail(log)}")


class _Server:
    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# -- PostgreSQL ----------------------------------------------------------------------------


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--", *command]


class PostgresServer(_Server):
    """`base_dir` is made and handed to the `postgres` user; its parents must be traversable by
    that user (a dir straight under /tmp is; pytest's per-user temp dirs are not)."""

    host = HOST

    def __init__(self, base_dir: Path, port: int | None = None):
        self.base_dir = Path(base_dir)
        self.port = port or free_port()
        self.data_dir = self.base_dir / "db"
        self.log_file = self.base_dir / "pg.log"
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise ServerError("PostgreSQL is not installed (apt-get install -y postgresql)")
        self.bin_dir = bin_dir

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool (initdb and pg_ctl refuse root: as root they run as `postgres`)."""
        command = _as_postgres([str(self.bin_dir / args[0]), *args[1:]])
        result = subprocess.run(  # noqa: S603 - the installed PostgreSQL tools, our own arguments
            command, capture_output=True, text=True, timeout=STOP_TIMEOUT + 30, check=False
        )
        if check and result.returncode != 0:
            raise ServerError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n{_log_tail(self.log_file)}"
            )
        return result

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid (its backends are its children), or None."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _leftover_postmaster(self) -> bool:
        """Whether the pid file names a postmaster still running on this data dir (a pid file
        left by a killed server can name an unrelated process once the pid is reused)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            return str(self.data_dir).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return False

    def start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base_dir, "postgres", "postgres")
            for path in self.base_dir.iterdir():
                if path.name != "db":
                    shutil.chown(path, "postgres", "postgres")
            reachable = subprocess.run(_as_postgres(["/usr/bin/test", "-w", str(self.base_dir)]), check=False)  # noqa: S603
            if reachable.returncode != 0:
                raise ServerError(f"the postgres user cannot reach {self.base_dir}: a parent dir is private")
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
            )  # fmt: skip
        if self._leftover_postmaster():
            # Left running by an earlier run that did not stop it: its port may differ.
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", check=False)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        options = (
            f"-c listen_addresses={HOST} -p {self.port} -k {self.base_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        data, log = str(self.data_dir), str(self.log_file)
        self._run("pg_ctl", "-D", data, "-l", log, "-w", "-t", "30", "-o", options, "start")
        _wait_until(self._ping, 30, "PostgreSQL", self.log_file)

    def stop(self) -> None:
        if self._leftover_postmaster():
            self._run(
                "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT)), "stop"
            )

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg2://postgres@{self.host}:{self.port}/{dbname}"

    @contextmanager
    def _admin(self) -> Iterator[psycopg2.extensions.cursor]:
        conn = psycopg2.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", connect_timeout=5
        )
        try:
            conn.autocommit = True  # CREATE/DROP DATABASE refuse to run in a transaction
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def _ping(self) -> bool:
        with self._admin() as cur:
            cur.execute("SELECT 1")
        return True

    def create_database(self, dbname: str) -> str:
        with self._admin() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return self.url_for(dbname)

    def drop_database(self, dbname: str) -> None:
        with self._admin() as cur:
            # FORCE: a test's processes may still hold connections.
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))

    def terminate_connections(self, dbname: str) -> int:
        """Cuts every open connection to `dbname` (`pg_terminate_backend`, as the superuser), as a
        failover or a network cut does to the services using it. Returns how many were cut."""
        with self._admin() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )
            row = cur.fetchone()
        return int(row[0]) if row else 0


# -- RabbitMQ ------------------------------------------------------------------------------


def _accepts_tcp(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=1):
        return True


async def _amqp_connects(url: str) -> bool:
    import aio_pika

    connection = await aio_pika.connect(url, timeout=3)
    await connection.close()
    return True


async def _ready_messages(url: str, queues: list[str]) -> dict[str, int]:
    import aio_pika
    from aiormq.exceptions import ChannelNotFoundEntity

    counts: dict[str, int] = {}
    connection = await aio_pika.connect(url, timeout=5)
    try:
        for name in queues:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except ChannelNotFoundEntity:
                continue  # a missing queue closes its channel: the next one gets a fresh one
            counts[name] = int(queue.declaration_result.message_count or 0)
            await channel.close()
    finally:
        await connection.close()
    return counts


def _run_async(coro_factory: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """Run a coroutine to completion from sync code, also when the caller is inside an event loop
    (a test calling `restart()`): it gets its own loop in a worker thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro_factory(*args)).result()


class RabbitMQServer(_Server):
    host = HOST
    # The node takes `port` (AMQP), +1 (distribution), +2 (its own epmd), +3..+13 (CLI tools).
    PORTS_USED = 14

    def __init__(self, base_dir: Path, port: int | None = None):
        self.base_dir = Path(base_dir)
        self.port = port or _free_port_block(self.PORTS_USED)
        self.management_port = free_port()
        while self.port <= self.management_port < self.port + self.PORTS_USED:
            self.management_port = free_port()
        self.url = f"amqp://guest:guest@{self.host}:{self.port}/"
        self.management_url = f"http://{self.host}:{self.management_port}"
        self.log_file = self.base_dir / "rabbitmq.log"
        self.pid_file = self.base_dir / "rabbit.pid"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def epmd_port(self) -> int:
        return self.port + 2

    def _env(self) -> dict[str, str]:
        base, port = str(self.base_dir), self.port
        loopback_dist = "-kernel inet_dist_use_interface {127,0,0,1}"
        return {
            **os.environ,
            "HOME": base,
            "RABBITMQ_NODENAME": f"rmq{port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(port + 1),
            "ERL_EPMD_ADDRESS": HOST,
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": f"{base}/mnesia",
            "RABBITMQ_LOG_BASE": f"{base}/log",
            "RABBITMQ_CONFIG_FILE": f"{base}/rabbitmq.conf",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{base}/enabled_plugins",
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": loopback_dist,
            "RABBITMQ_CTL_ERL_ARGS": loopback_dist,
            "RABBITMQ_CTL_DIST_PORT_MIN": str(port + 3),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(port + 13),
        }

    def _write_config(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {HOST}:{self.port}\n"
            "loopback_users = none\n"
            f"management.tcp.ip = {HOST}\n"
            f"management.tcp.port = {self.management_port}\n"
            # The tests fill the disk with nothing much; the default 50 MB floor is fine, but a
            # busy shared machine should not block publishers in the middle of a test.
            "disk_free_limit.absolute = 10MB\n"
        )
        (self.base_dir / "enabled_plugins").write_text("[rabbitmq_management].\n")

    def _epmd_kill(self) -> None:
        epmd = shutil.which("epmd")
        if epmd is None:
            return
        env = {**os.environ, "ERL_EPMD_PORT": str(self.epmd_port), "ERL_EPMD_ADDRESS": HOST}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            # epmd refuses while it still lists the node, which a moment ago was alive.
            result = subprocess.run([epmd, "-kill"], env=env, capture_output=True, text=True, timeout=10)  # noqa: S603
            if result.returncode == 0 or "Cannot connect" in result.stdout + result.stderr:
                return
            time.sleep(0.2)

    def _own_processes(self) -> list[int]:
        """Every process this server's base dir started (the node, its helpers, its epmd): they
        all carry the environment we gave the node, whatever became of their process group."""
        marker = f"\0RABBITMQ_MNESIA_BASE={self.base_dir}/mnesia\0".encode()
        pids = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and int(proc.name) != os.getpid():
                with suppress(OSError):
                    if marker in b"\0" + (proc / "environ").read_bytes() + b"\0":
                        pids.append(int(proc.name))
        return pids

    def _kill_leftover(self) -> None:
        """Whatever an unclean earlier run left behind in this base dir (a node, an epmd)."""
        for pid in self._own_processes():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def server_pid(self) -> int | None:
        """The pid of the process this object started (the node and its helpers descend from it)."""
        return self._process.pid if self._alive() and self._process is not None else None

    def _wait_port_closed(self) -> None:
        """A SIGKILLed Erlang VM lingers a moment (a zombie whose threads are still exiting) and its
        listening socket keeps completing handshakes: a readiness check would pass too early."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                _accepts_tcp(HOST, self.port)
            except OSError:
                return
            time.sleep(0.1)
        raise ServerError(f"port {self.port} is still accepting connections: another server holds it")

    def start(self) -> None:
        if self._alive():
            return
        self._write_config()
        self._kill_leftover()
        self._wait_port_closed()
        log = open(self.log_file, "ab")
        try:
            self._process = subprocess.Popen(  # noqa: S603 - the installed server script
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=self._env(),
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so stop/kill reach the whole Erlang process tree
            )
        finally:
            log.close()
        try:
            # TCP first: it is cheap, and the AMQP client logs every refused attempt.
            _wait_until(
                lambda: _accepts_tcp(HOST, self.port), START_TIMEOUT, "RabbitMQ", self.log_file, self._alive
            )
            _wait_until(
                lambda: _run_async(_amqp_connects, self.url),
                START_TIMEOUT,
                "RabbitMQ",
                self.log_file,
                self._alive,
            )
            _wait_until(
                self._management_ready, START_TIMEOUT, "RabbitMQ management", self.log_file, self._alive
            )
        except BaseException:
            self.kill()
            raise

    def _signal_group(self, sig: int) -> None:
        if self._process is not None:
            with suppress(ProcessLookupError):
                os.killpg(self._process.pid, sig)

    def stop(self) -> None:
        if self._process is not None:
            self._signal_group(signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._process.wait(timeout=10)
            # The shell wrapper can exit before the Erlang VM it started: make sure of the group.
            self._signal_group(signal.SIGKILL)
            self._process = None
        self._epmd_kill()
        self._kill_leftover()

    def kill(self) -> None:
        """Crash the broker: no shutdown of queues or connections; the data dir stays."""
        if self._process is not None:
            self._signal_group(signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
            self._process = None
            self._wait_port_closed()

    def restart(self) -> None:
        if self._alive():
            self.stop()
        self.start()

    @classmethod
    def stop_leftover(cls, base_dir: Path) -> None:
        """Kill a node (and its epmd) that an earlier, killed run left running in `base_dir`."""
        cls(base_dir)._kill_leftover()

    # -- management API (vhosts isolate tests sharing one broker) ----------------------------

    def management(self) -> httpx.Client:
        """A client of the management HTTP API (tests also use it, e.g. to close connections)."""
        return httpx.Client(base_url=self.management_url, auth=("guest", "guest"), timeout=10)

    def _management_ready(self) -> bool:
        with self.management() as client:
            return client.get("/api/overview").status_code == 200

    def create_vhost(self, name: str) -> str:
        vhost = quote(name, safe="")
        with self.management() as client:
            client.put(f"/api/vhosts/{vhost}").raise_for_status()
            client.put(
                f"/api/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"}
            ).raise_for_status()
        return f"amqp://guest:guest@{self.host}:{self.port}/{vhost}"

    def delete_vhost(self, name: str) -> None:
        with self.management() as client:
            response = client.delete(f"/api/vhosts/{quote(name, safe='')}")
            if response.status_code != 404:
                response.raise_for_status()

    def queue_names(self, vhost: str) -> list[str]:
        """Every shared queue of a vhost, as the management API lists it. Exclusive queues (a
        process's live subscription) are left out: only their own connection may declare them,
        even passively, and what they hold is best-effort fan-out, not work to be delivered."""
        with self.management() as client:
            response = client.get(
                f"/api/queues/{quote(vhost, safe='')}", params={"columns": "name,exclusive"}
            )
            response.raise_for_status()
            return sorted(queue["name"] for queue in response.json() if not queue.get("exclusive"))

    def ready_messages(self, vhost: str, queues: list[str]) -> dict[str, int]:
        """Messages waiting in each queue now (not yet delivered, or delivered and given back),
        read over AMQP (a passive declare): exact at once, where the management API's figures
        lag by its statistics interval. A queue that doesn't exist is left out."""
        return _run_async(_ready_messages, self.url + quote(vhost, safe=""), queues)


# -- base dirs of a run --------------------------------------------------------------------


def make_base_dir(prefix: str) -> Path:
    """A fresh dir for a run's servers: under the temp dir, reachable by the `postgres` user,
    naming the process that owns it so a later run can clean up if this one is killed."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    (path / OWNER_FILE).write_text(str(os.getpid()))
    return path


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_abandoned(prefix: str) -> list[Path]:
    """Stop the servers of earlier runs that were killed before stopping them (their owner
    process is gone) and delete their dirs. Returns the dirs reaped."""
    reaped = []
    for path in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((path / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if _process_alive(owner):
            continue
        for server_dir in (p for p in path.iterdir() if p.is_dir()):
            with suppress(Exception):
                if (server_dir / "db" / "PG_VERSION").exists():
                    PostgresServer(server_dir).stop()
                elif (server_dir / "rabbitmq.conf").exists():
                    RabbitMQServer.stop_leftover(server_dir)
        shutil.rmtree(path, ignore_errors=True)
        reaped.append(path)
    return reaped


# -- an OpenSearch-compatible server -------------------------------------------------------


def osmem_binary() -> str | None:
    """The osmem-server binary the PyPI package `osmem-server` ships (a dev dependency), if any."""
    try:
        from osmem_server import OsmemError, resolve_binary
    except ImportError:
        return None
    try:
        return str(resolve_binary())
    except OsmemError:
        return None


class OsmemSearchServer(_Server):
    """osmem-server: an in-memory OpenSearch-compatible server (BM25, fuzzy and phrase queries,
    highlights, bulk, external versions, aliases), for the Elasticsearch backend's tests. No
    Elasticsearch or OpenSearch can be installed here; what it lacks is said where a test skips.
    It keeps nothing on disk; tests isolate themselves by index names."""

    host = HOST

    def __init__(self, base_dir: Path, port: int | None = None):
        self.base_dir = Path(base_dir)
        self.port = port or free_port()
        self.url = f"http://{self.host}:{self.port}"
        self.log_file = self.base_dir / "osmem.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _ready(self) -> bool:
        return httpx.get(self.url + "/", timeout=2).status_code == 200

    def start(self) -> None:
        if self._alive():
            return
        binary = osmem_binary()
        if binary is None:
            raise ServerError("osmem-server is not installed (it is a dev dependency: uv sync)")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - the binary the package ships
                [binary, "--addr", f"{self.host}:{self.port}", "--no-ja", "--no-stdin-watch",
                 "--parent-pid", str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            _wait_until(self._ready, START_TIMEOUT, "osmem-server", self.log_file, self._alive)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._process is not None:
            with suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
            self._process = None
