"""Each image built and run the way its Dockerfile says, without Docker (there is no daemon here).

The builder stage's COPY steps and its `uv sync` commands run in a scratch folder standing for
/app, offline from uv's cache; the runtime stage's files are then laid out at the same path (the
virtual environment points there). On that tree the image's own commands run: the Railway
pre-deploy command (`alembic upgrade head`, from WORKDIR) against a real PostgreSQL database, the
CMD (through /bin/sh, as in the image, with PORT set), and the HEALTHCHECK command. What this
cannot see is the base image itself: this machine's Python 3.11 stands in for python:3.11-slim.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devstack.servers import free_port

# UV_NO_CACHE would stop uv installing from its cache, offline. Bytecode: the image compiles all
# of site-packages once at build time; here each module is compiled when first imported, and kept
# for the next process, which is much quicker when only one app's imports are ever needed.
NOT_REPLAYED_ENV = {"UV_NO_CACHE", "UV_COMPILE_BYTECODE", "PYTHONDONTWRITEBYTECODE"}
# The runtime stage's system user is not made on this machine.
NOT_REPLAYED_STEPS = ("groupadd ",)
START_TIMEOUT = 30.0
# As in production: a real secret and ENVIRONMENT=production, so the settings' checks apply.
PRODUCTION = {"ENVIRONMENT": "production", "INTERNAL_SECRET": secrets.token_urlsafe(36)}
# What a service refuses to start without in production (notify: somewhere to send email; nothing
# is sent while the probe runs).
SERVICE_ENV = {
    "notify": {"SMTP_URL": "smtp://127.0.0.1:9", "MAIL_FROM": "Microblog <n@microblog.example>"},
    # A service another one calls (nothing is called to answer the health check).
    "posts": {"USERS_URL": "http://127.0.0.1:9"},
    "web": {"GATEWAY_URL": "http://127.0.0.1:9"},
}


def _uv() -> list[str] | None:
    # `uv run` tells its children where it is in UV; otherwise PATH, or uv installed as a module.
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return [candidate]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    return None


def _host_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("UV", "VIRTUAL_ENV", "PYTHON"))}


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


class Replay:
    """A scratch root standing for the image's /app, and the environment its commands see."""

    def __init__(self, root: Path):
        self.root = root
        self.workdir = "/"
        self.env = _host_env()

    def host_path(self, container_path: str) -> Path:
        absolute = (
            container_path
            if container_path.startswith("/")
            else f"{self.workdir.rstrip('/')}/{container_path}"
        )
        assert absolute == "/app" or absolute.startswith("/app/"), f"the replay only covers /app: {absolute}"
        return self.root / absolute.removeprefix("/app").lstrip("/")

    def set_env(self, instruction) -> None:
        for word in instruction.words():
            name, _, value = word.partition("=")
            value = value.replace("${PATH}", self.env.get("PATH", "")).replace("/app", str(self.root))
            if name not in NOT_REPLAYED_ENV:
                self.env[name] = value

    def copy(self, sources: list[Path], dest: str, *, from_context: bool = True) -> None:
        target = self.host_path(dest)
        into_folder = dest.endswith("/") or len(sources) > 1
        for source in sources:
            assert source.exists(), source
            if source.is_dir():
                # Like COPY: links stay links (the venv's interpreter); .dockerignore keeps caches out of
                # the build context, but bytecode built in an earlier stage is copied.
                ignore = shutil.ignore_patterns("__pycache__") if from_context else None
                shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True, ignore=ignore)
            else:
                destination = target / source.name if into_folder else target
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)

    def run(self, command: list[str], **extra_env: str) -> subprocess.CompletedProcess[str]:
        cwd = self.host_path(self.workdir) if self.workdir.startswith("/app") else self.root
        cwd.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            command,
            cwd=cwd,
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def _build(stages: list, repo: Path, tmp_path: Path, uv: list[str]) -> Replay:
    builder = next(s for s in stages if s.name == "builder")
    replay = Replay(tmp_path / "app")
    # RUN steps see build arguments as environment variables, and `uv` on PATH: a shim to this
    # machine's uv, working offline from its cache.
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "uv").write_text(f'#!/bin/sh\nexec {" ".join(uv)} "$@"\n')
    (shims / "uv").chmod(0o755)
    build_env = {**builder.args, "UV_OFFLINE": "1"}
    for step in builder.instructions:
        if step.keyword == "COPY" and step.flags.get("from") == "uv":
            continue  # the uv binary: this machine's uv stands in for it
        if step.keyword == "ENV":
            replay.set_env(step)
        elif step.keyword == "WORKDIR":
            replay.workdir = step.text
        elif step.keyword == "COPY":
            *sources, dest = step.words()
            replay.copy([repo / s for s in sources], dest)
        elif step.keyword == "RUN":
            assert step.text.startswith("uv "), f"the replay does not know how to run {step.text!r}"
            path = f"{shims}:{replay.env['PATH']}"
            result = replay.run(["/bin/sh", "-c", step.text], **build_env, PATH=path)
            assert result.returncode == 0, f"{step.text}\n{result.stderr}"
        else:
            raise AssertionError(f"the replay does not know builder instruction {step.keyword}")

    # The runtime stage: a new tree at the same path, holding only what it copies.
    built = tmp_path / "builder-app"
    replay.root.rename(built)
    replay.root.mkdir()
    runtime = stages[-1]
    replay.env = _host_env()
    replay.workdir = "/"
    for step in runtime.instructions:
        if step.keyword == "COPY":
            *sources, dest = step.words()
            if step.flags.get("from") == "builder":
                replay.copy(
                    [built / s.removeprefix("/app").lstrip("/") for s in sources], dest, from_context=False
                )
            else:
                assert "from" not in step.flags, step
                replay.copy([repo / s for s in sources], dest)
        elif step.keyword == "ENV":
            replay.set_env(step)
        elif step.keyword == "WORKDIR":
            replay.workdir = step.text
        elif step.keyword == "RUN" and not step.text.startswith(NOT_REPLAYED_STEPS):
            command = step.text.replace("/app", str(replay.root))
            result = replay.run(["/bin/sh", "-c", command], **runtime.args)
            assert result.returncode == 0, f"{step.text}\n{result.stderr}"
    return replay


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _serve_and_probe(replay: Replay, stages: list, probe_path: str, app_env: dict[str, str]) -> None:
    runtime = stages[-1]
    port = str(free_port())
    env = {**replay.env, **app_env, "PORT": port}
    process = subprocess.Popen(
        runtime.last("CMD").words(),
        cwd=replay.host_path(replay.workdir),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        command = json.loads(runtime.last("HEALTHCHECK").text.removeprefix("CMD").strip())
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            check = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)
            if check.returncode == 0:
                break
            assert process.poll() is None, "the CMD exited"
            assert time.monotonic() < deadline, f"HEALTHCHECK never passed: {check.stderr[-500:]}"
            time.sleep(0.3)
        hosts = ["127.0.0.1", "[::1]"] if _ipv6_loopback() else ["127.0.0.1"]
        for host in hosts:
            status, body = _get(f"http://{host}:{port}{probe_path}")
            assert status == 200, f"{host}: {status} {body}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            pytest.fail(f"SIGTERM did not stop the CMD (is uvicorn exec'd?)\n{output[-2000:]}")
    # SIGTERM reached uvicorn itself (the shell exec'd it) and it shut down cleanly; uvicorn then
    # re-raises the signal, so the exit status says "terminated by SIGTERM".
    assert process.returncode in (0, -signal.SIGTERM), output[-2000:]
    assert "Application shutdown complete" in output, output[-2000:]


@pytest.fixture
def uv() -> list[str]:
    found = _uv()
    if found is None:
        pytest.skip("uv is not installed (`make setup` installs it)")
    return found


@pytest.mark.postgres
def test_service_image_migrates_serves_and_passes_its_healthcheck(
    service: str, repo: Path, folder_of, read_dockerfile, tmp_path: Path, uv: list[str], pg_url: str
) -> None:
    stages = read_dockerfile(folder_of(service) / "Dockerfile")
    replay = _build(stages, repo, tmp_path, uv)
    assert (
        replay.run(["python", "-c", f"import {service}.app as m; assert callable(m.create_app)"]).returncode
        == 0
    )

    # Railway's pre-deploy command, as written in railway.toml, from the image's WORKDIR.
    config = tomllib.loads((folder_of(service) / "railway.toml").read_text())
    for command in config["deploy"]["preDeployCommand"]:
        result = replay.run(["/bin/sh", "-c", command], DATABASE_URL=pg_url)
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"

    # The in-process event bus: the broker is not what this test is about. The search service
    # also needs an index: the embedded one, in a folder of the test's own.
    app_env = {**PRODUCTION, "DATABASE_URL": pg_url, "EVENT_BUS": "memory", **SERVICE_ENV.get(service, {})}
    if service == "search":
        app_env["SEARCH_INDEX_DIR"] = str(tmp_path / "search-index")
    _serve_and_probe(replay, stages, "/health/ready", app_env)


def test_gateway_image_serves_and_passes_its_healthcheck(
    repo: Path, folder_of, read_dockerfile, tmp_path: Path, uv: list[str]
) -> None:
    stages = read_dockerfile(folder_of("gateway") / "Dockerfile")
    replay = _build(stages, repo, tmp_path, uv)
    # Upstreams nobody calls here: /health/live does not reach them.
    unused = {
        f"{name.upper()}_URL": "http://127.0.0.1:9"
        for name in ("users", "posts", "search", "translate", "notify", "web")
    }
    _serve_and_probe(replay, stages, "/health/live", {**PRODUCTION, **unused})
