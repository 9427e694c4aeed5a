"""infra/postgres/init-databases.sh against a real PostgreSQL server: one database per service,
owned by a role of the same name that no other service's role can connect to."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

SCRIPT = Path(__file__).resolve().parents[2] / "infra/postgres/init-databases.sh"

pytestmark = pytest.mark.postgres


@pytest.fixture
def names(postgres_server) -> Iterator[list[str]]:
    """Two service-like names unique to this test (the server is shared by the whole session)."""
    suffix = uuid.uuid4().hex[:8]
    chosen = [f"users_{suffix}", f"posts_{suffix}"]
    yield chosen
    conn = psycopg2.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname="postgres"
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in chosen:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    conn.close()


def _run(postgres_server, **env: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed (apt-get install -y postgresql-client)")
    # What the postgres image provides to its init scripts, pointed at the test server.
    environment = {
        **os.environ,
        "PGHOST": postgres_server.host,
        "PGPORT": str(postgres_server.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
        **env,
    }
    return subprocess.run(
        [str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def _connect(postgres_server, user: str, dbname: str):
    return psycopg2.connect(host=postgres_server.host, port=postgres_server.port, user=user, dbname=dbname)


def test_each_service_gets_its_own_database_and_role(postgres_server, names: list[str]) -> None:
    env = {"MICROBLOG_DATABASES": " ".join(names), "MICROBLOG_DB_PASSWORD": "dev-password"}
    first = _run(postgres_server, **env)
    assert first.returncode == 0, first.stderr
    # Safe to run again (a new service added later, or a second `docker compose exec`).
    again = _run(postgres_server, **env)
    assert again.returncode == 0, again.stderr

    with _connect(postgres_server, "postgres", "postgres") as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT d.datname, r.rolname, r.rolcanlogin FROM pg_database d"
            " JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = ANY(%s) ORDER BY d.datname",
            (names,),
        )
        assert cur.fetchall() == sorted((name, name, True) for name in names)

    own, other = names
    # The role can create tables in its own database (the migrations do)...
    conn = _connect(postgres_server, own, own)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE probe (id integer PRIMARY KEY)")
    conn.close()
    # ...and cannot even connect to another service's database.
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        _connect(postgres_server, own, other).close()


def test_refuses_a_name_that_is_not_a_plain_identifier(postgres_server, names: list[str]) -> None:
    result = _run(postgres_server, MICROBLOG_DATABASES='users"; DROP', MICROBLOG_DB_PASSWORD="x")
    assert result.returncode != 0
    assert "refusing database name" in result.stderr


def test_requires_the_service_password(postgres_server, names: list[str]) -> None:
    result = _run(postgres_server, MICROBLOG_DATABASES=names[0], MICROBLOG_DB_PASSWORD="")
    assert result.returncode != 0
    assert "MICROBLOG_DB_PASSWORD must be set" in result.stderr
