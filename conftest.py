"""Session-wide real servers: PostgreSQL and RabbitMQ from the OS packages (and osmem-server, an
OpenSearch-compatible server from the dev dependencies), started on first use
(so a run that needs neither starts neither) and stopped at the end. Tests get a fresh database
(`pg_url`) or a fresh vhost (`rabbitmq_url`) each, so they never see each other's data."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.servers import (
    OsmemSearchServer,
    PostgresServer,
    RabbitMQServer,
    make_base_dir,
    missing_server_packages,
    osmem_binary,
    reap_abandoned,
)
from microblog_common.testing import BACKENDS

SERVERS_DIR_PREFIX = "microblog-test-servers-"

# The table of the verify suite (tests/verify/), printed at the end of any run that includes it;
# and what a rerun test's failed attempt said (`make test` reruns a failed test once).
pytest_plugins = ["devstack.verify_report", "devstack.rerun_report", "pytester"]


def _require(package: str) -> None:
    if package in missing_server_packages():
        pytest.skip(f"{package} is not installed (apt-get install -y {package}; `make test` installs it)")


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: PostgreSQL runs as the `postgres` user, who cannot enter it.
    reap_abandoned(SERVERS_DIR_PREFIX)  # servers of an earlier session that was killed
    path = make_base_dir(SERVERS_DIR_PREFIX)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(servers_dir: Path) -> Iterator[PostgresServer]:
    _require("postgresql")
    with PostgresServer(servers_dir / "postgres") as server:
        yield server


@pytest.fixture(scope="session")
def rabbitmq_server(servers_dir: Path) -> Iterator[RabbitMQServer]:
    _require("rabbitmq-server")
    with RabbitMQServer(servers_dir / "rabbitmq") as server:
        yield server


@pytest.fixture(scope="session")
def opensearch_server(servers_dir: Path) -> Iterator[OsmemSearchServer]:
    """osmem-server (an OpenSearch-compatible server from the dev dependencies) on loopback."""
    if osmem_binary() is None:
        pytest.skip("osmem-server is not installed (a dev dependency: `uv sync` installs it)")
    with OsmemSearchServer(servers_dir / "osmem") as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Service tests run once on SQLite and once on PostgreSQL (`database_url` asks for `pg_url`,
    which skips with the reason when PostgreSQL is not installed)."""
    return request.param


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


@pytest.fixture
def rabbitmq_url(rabbitmq_server: RabbitMQServer) -> Iterator[str]:
    rabbitmq_server.start()  # no-op when running; brings it back after a test that killed it failed
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield rabbitmq_server.create_vhost(name)
    rabbitmq_server.delete_vhost(name)


# `make test` runs the suite on two xdist workers (`-n 2 --dist loadgroup`). The end-to-end
# scenarios share one running microblog per mode (tests/e2e/conftest.py), so they all go to one
# worker; the verify suite's modules (a stack each) to one worker; the integration modules, each
# starting a stack of its own, to one worker too, so no more than two stacks ever compete for the
# machine's cores. Everything else is spread module by module.
# (A scheduler of our own rather than `xdist_group` marks: pytest 9 ignores the node id suffix
# pytest-xdist 3.8 adds for those.)
GROUPS = {"tests/e2e/": "e2e", "tests/verify/": "verify", "tests/integration/": "integration"}


def _work_unit(nodeid: str) -> str:
    for prefix, group in GROUPS.items():
        if nodeid.startswith(prefix):
            return group
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class StackGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            # The stack groups are the longest units: handed out first, in this order, so the
            # first two go to different workers (xdist otherwise orders by test count, and two of
            # them could queue on one worker behind each other).
            for group in GROUPS.values():
                if group in self.workqueue:
                    self.workqueue.move_to_end(group, last=False)
                    break
            super()._assign_work_unit(node)

    return StackGroups(config, log)
