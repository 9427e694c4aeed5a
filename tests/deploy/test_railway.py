"""The Railway config files (railway.toml at the root for the gateway, services/<name>/railway.toml
for the services), read offline: documented keys only, paths that exist, watch patterns that cover
everything the image is built from, and an operator guide that lists every variable."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "infra/railway/README.md"

# The keys Railway's config-as-code reference documents, and nothing else:
# https://docs.railway.com/config-as-code/reference
DOCUMENTED = {
    "": {"$schema", "build", "deploy", "environments"},
    "build": {
        "builder",
        "watchPatterns",
        "buildCommand",
        "dockerfilePath",
        "railpackVersion",
        "nixpacksConfigPath",
        "nixpacksPlan",
        "nixpacksVersion",
    },
    "deploy": {
        "startCommand",
        "preDeployCommand",
        "multiRegionConfig",
        "healthcheckPath",
        "healthcheckTimeout",
        "restartPolicyType",
        "restartPolicyMaxRetries",
        "cronSchedule",
        "overlapSeconds",
        "drainingSeconds",
    },
}
BUILDERS = {"RAILPACK", "DOCKERFILE", "NIXPACKS"}
RESTART_POLICIES = {"ON_FAILURE", "ALWAYS", "NEVER"}
# The reference shows overlapSeconds/drainingSeconds as strings, but Railway's parser wants numbers
# (railwayapp/docs issue 1243), like the other durations and counts.
INTEGER_KEYS = {"healthcheckTimeout", "restartPolicyMaxRetries", "overlapSeconds", "drainingSeconds"}


def _config_path(component: str) -> Path:
    return REPO / "railway.toml" if component == "gateway" else REPO / "services" / component / "railway.toml"


@pytest.fixture
def config(component: str) -> dict:
    return tomllib.loads(_config_path(component).read_text())


@pytest.fixture(scope="module")
def repository_files() -> list[str]:
    """The files a push can change: tracked ones and new ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in listed.stdout.splitlines() if (REPO / line).is_file()]


def test_uses_only_documented_keys(config: dict) -> None:
    assert set(config) <= DOCUMENTED[""]
    assert config["$schema"] == "https://railway.com/railway.schema.json"
    for section in ("build", "deploy"):
        unknown = set(config[section]) - DOCUMENTED[section]
        assert not unknown, f"[{section}] has keys Railway does not document: {sorted(unknown)}"
    assert config["build"]["builder"] in BUILDERS
    assert config["deploy"]["restartPolicyType"] in RESTART_POLICIES
    for key in INTEGER_KEYS & set(config["deploy"]):
        assert type(config["deploy"][key]) is int, f"deploy.{key} must be a number"


def test_builds_its_own_dockerfile_from_the_repository_root(component: str, config: dict, folder_of) -> None:
    build = config["build"]
    assert build["builder"] == "DOCKERFILE"
    dockerfile = REPO / build["dockerfilePath"]
    assert dockerfile == folder_of(component) / "Dockerfile"
    assert dockerfile.is_file()


def test_watch_patterns_cover_what_the_image_is_built_from(
    component: str, config: dict, folder_of, stages: list, path_patterns, repository_files: list[str]
) -> None:
    patterns = config["build"]["watchPatterns"]
    # Anchored: an unanchored `pyproject.toml` would match every member's pyproject.toml too.
    assert all(p.lstrip("!").startswith("/") for p in patterns), patterns
    own = "/" + folder_of(component).relative_to(REPO).as_posix() + "/**"
    for required in (own, "/libs/common/**", "/pyproject.toml", "/uv.lock"):
        assert required in patterns
    for pattern in patterns:
        single = path_patterns([pattern.lstrip("!")])
        assert any(single.matches(path) for path in repository_files), (
            f"watch pattern {pattern} matches no file"
        )

    # Every file the Dockerfile copies from the repository triggers a deploy when it changes.
    watch = path_patterns(patterns)
    for stage in stages:
        for step in stage.all("COPY"):
            if "from" in step.flags:
                continue
            for source in step.words()[:-1]:
                inside = [
                    f for f in repository_files if f == source or f.startswith(source.rstrip("/") + "/")
                ]
                assert inside, f"COPY {source}: nothing in the repository"
                for relative in inside:
                    assert watch.matches(relative), f"a change to {relative} would not redeploy {component}"


def test_services_migrate_before_each_deploy(service: str, folder_of) -> None:
    deploy = tomllib.loads((folder_of(service) / "railway.toml").read_text())["deploy"]
    # An array, as the reference documents it; run from the image's WORKDIR, where alembic.ini is.
    assert deploy["preDeployCommand"] == ["alembic upgrade head"]
    assert (folder_of(service) / "alembic.ini").is_file()


def test_gateway_has_no_migrations() -> None:
    assert "preDeployCommand" not in tomllib.loads(_config_path("gateway").read_text())["deploy"]


def test_health_check_and_restart_policy(component: str, config: dict) -> None:
    deploy = config["deploy"]
    expected = "/health/live" if component == "gateway" else "/health/ready"
    assert deploy["healthcheckPath"] == expected
    assert 0 < deploy["healthcheckTimeout"] <= 300
    assert deploy["restartPolicyType"] == "ON_FAILURE"
    assert deploy["restartPolicyMaxRetries"] > 0


def test_the_image_command_starts_the_app(config: dict) -> None:
    # An exec-form startCommand would not expand $PORT; the Dockerfile's CMD does (through sh).
    assert "startCommand" not in config["deploy"]


# -- the operator guide --------------------------------------------------------------------


def _readme_sections() -> dict[str, str]:
    sections: dict[str, str] = {}
    for chunk in re.split(r"^### ", README.read_text(), flags=re.MULTILINE)[1:]:
        title, _, body = chunk.partition("\n")
        sections[title.strip()] = body
    return sections


def _documented_variables(text: str) -> set[str]:
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", text, flags=re.MULTILINE))


def test_readme_documents_every_variable(component: str) -> None:
    sections = _readme_sections()
    documented = _documented_variables(sections[component])
    if component != "gateway":
        documented |= _documented_variables(
            sections["Every service (users, posts, search, translate, notify, web)"]
        )
    settings = importlib.import_module(f"{component}.settings").Settings
    read = {name.upper() for name in settings.model_fields}
    missing = read - documented
    assert not missing, f"infra/railway/README.md does not document {component}'s {sorted(missing)}"


def test_readme_names_every_config_file_path(component: str) -> None:
    path = _config_path(component)
    assert f"`/{path.relative_to(REPO).as_posix()}`" in README.read_text()


# -- the optional worker services ------------------------------------------------------------


def test_each_service_has_an_optional_worker_config(event_service: str, folder_of) -> None:
    """`<service>-worker` on Railway: the same image and watch patterns as the service, started
    with the worker entry point, checked on its readiness, and no migration of its own."""
    service = event_service
    api = tomllib.loads((folder_of(service) / "railway.toml").read_text())
    worker = tomllib.loads((folder_of(service) / "railway.worker.toml").read_text())
    assert set(worker) <= DOCUMENTED[""]
    for section in ("build", "deploy"):
        assert set(worker[section]) <= DOCUMENTED[section], section
    assert worker["build"] == api["build"]
    deploy = worker["deploy"]
    assert deploy["startCommand"] == f"python -m {service}.worker"
    assert importlib.util.find_spec(f"{service}.worker") is not None
    assert "preDeployCommand" not in deploy
    assert deploy["healthcheckPath"] == "/health/ready"
    assert deploy["restartPolicyType"] in RESTART_POLICIES and deploy["restartPolicyMaxRetries"] > 0
    for key in INTEGER_KEYS & set(deploy):
        assert type(deploy[key]) is int
    path = (folder_of(service) / "railway.worker.toml").relative_to(REPO).as_posix()
    assert f"`/{path}`" in README.read_text()
