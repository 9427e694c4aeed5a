"""docker-compose.yml, checked offline: against the compose-spec schema, by docker-compose itself
when it is installed, and for the wiring `make up` depends on (health checks, start order, one
database per service, variables the processes actually read)."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from microblog_common.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
# Read by the image itself (its CMD), not by the settings classes.
IMAGE_VARIABLES = {"PORT", "UVICORN_HOST"}
# Variables compose already hands to a service for a feature it does not read yet (documented in
# infra/railway/README.md); once its settings declare them they simply count as settings.
PLANNED = {
    "search": {"ELASTICSEARCH_URL"},
    "notify": {"SMTP_HOST", "SMTP_PORT", "POSTMARK_SERVER_TOKEN"},
    "translate": {"MICROSOFT_TRANSLATOR_KEY", "MICROSOFT_TRANSLATOR_REGION"},
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _depends(service: dict) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def _default(value: str) -> str:
    """The default of a `${NAME:-default}` value (or the value itself)."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


def test_matches_the_compose_spec_schema() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_accepts_it() -> None:
    if shutil.which("docker-compose"):
        command = ["docker-compose"]
    elif (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        command = ["docker", "compose"]
    else:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed (apt: docker-compose)")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_infrastructure_services(compose: dict) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert services["elasticsearch"]["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:8.")
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
    elastic = services["elasticsearch"]["environment"]
    assert elastic["discovery.type"] == "single-node"
    assert elastic["xpack.security.enabled"] == "false"
    assert elastic["ES_JAVA_OPTS"] == "-Xms512m -Xmx512m"
    for name in ("postgres", "rabbitmq", "elasticsearch", "mailpit"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"


def test_postgres_creates_one_database_per_service(compose: dict, all_services) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["environment"]["MICROBLOG_DATABASES"].split() == list(all_services)
    mounts = {m.split(":")[0]: m.split(":")[1] for m in postgres["volumes"]}
    script = mounts["./infra/postgres/init-databases.sh"]
    assert script.startswith("/docker-entrypoint-initdb.d/")
    assert (REPO / "infra/postgres/init-databases.sh").stat().st_mode & 0o111, (
        "the init script is not executable"
    )


def test_service_runs_its_migrations_then_starts(compose: dict, service: str) -> None:
    services = compose["services"]
    migrate, app = services[f"{service}-migrate"], services[service]
    assert migrate["build"] == {"context": ".", "dockerfile": f"services/{service}/Dockerfile"}
    assert (REPO / migrate["build"]["dockerfile"]).exists()
    assert migrate["image"] == app["image"], "the service runs the image its migrate step built"
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert _depends(migrate) == {"postgres": "service_healthy"}
    depends = _depends(app)
    assert depends[f"{service}-migrate"] == "service_completed_successfully"
    assert all(
        condition == "service_healthy" for name, condition in depends.items() if name != f"{service}-migrate"
    )
    assert "/health/ready" in " ".join(app["healthcheck"]["test"])

    # Its own database, as its own role, for both the migrations and the service.
    url = migrate["environment"]["DATABASE_URL"]
    assert re.fullmatch(rf"postgresql://{service}:[^@]+@postgres:5432/{service}", url), url
    assert app["environment"]["DATABASE_URL"] == url
    if service == "web":
        # No events: no broker to wait for. It calls the API through the gateway.
        assert app["environment"]["EVENT_BUS"] == "memory" and "rabbitmq" not in depends
        assert app["environment"]["GATEWAY_URL"] == "http://gateway:8000"
        return
    assert depends["rabbitmq"] == "service_healthy"
    assert app["environment"]["EVENT_BUS"] == "rabbitmq"
    assert app["environment"]["RABBITMQ_URL"].startswith("amqp://")


def test_gateway_waits_for_every_service_and_is_published(compose: dict, all_services) -> None:
    gateway = compose["services"]["gateway"]
    assert gateway["build"] == {"context": ".", "dockerfile": "gateway/Dockerfile"}
    assert _depends(gateway) == {name: "service_healthy" for name in all_services}
    # Published on the host's loopback, port 8000 unless GATEWAY_PORT says otherwise.
    assert gateway["ports"] == ["127.0.0.1:${GATEWAY_PORT:-8000}:8000"]
    env = gateway["environment"]
    for name in all_services:
        assert env[f"{name.upper()}_URL"] == f"http://{name}:8000"
    assert gateway["healthcheck"]["test"]


def test_services_and_gateway_share_the_secret_and_environment(compose: dict, all_services) -> None:
    environments = [compose["services"][name]["environment"] for name in (*all_services, "gateway")]
    for key in ("INTERNAL_SECRET", "ENVIRONMENT"):
        assert len({env[key] for env in environments}) == 1, f"{key} differs between containers"


def test_default_internal_secret_passes_the_production_checks(compose: dict) -> None:
    secret = _default(compose["services"]["gateway"]["environment"]["INTERNAL_SECRET"])
    assert len(secret) == 48
    # What a process does with it outside development: accepted (long enough, not a placeholder).
    settings = ServiceSettings(
        service_name="users",
        environment="production",
        internal_secret=secret,
        database_url="postgresql://u:p@h/db",
        rabbitmq_url="amqp://u:p@h/",
    )
    assert settings.internal_secret.get_secret_value() == secret


def _settings_variables(component: str) -> set[str]:
    module = importlib.import_module(f"{component}.settings")
    return {name.upper() for name in module.Settings.model_fields}


def test_only_variables_the_processes_read(compose: dict, component: str) -> None:
    env = compose["services"][component]["environment"]
    known = _settings_variables(component) | IMAGE_VARIABLES | PLANNED.get(component, set())
    unknown = set(env) - known
    assert not unknown, f"{component} is given variables nothing reads (typo?): {sorted(unknown)}"
