"""The embedded mode as a child process, for tests that need the whole microblog as a user runs it
(`python -m devstack run`) and the same surface as `LocalStack`: `gateway_url`, `database_urls`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from devstack.embedded import SERVICES
from devstack.servers import free_port


class EmbeddedProcess:
    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None, ready_timeout: float = 90.0):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.gateway_url = f"http://127.0.0.1:{self.port}"
        self.database_urls = {name: f"sqlite:///{self.data_dir / f'{name}.db'}" for name in SERVICES}
        self.log_path = self.data_dir.parent / f"embedded-{self.port}.log"
        self._env = env or {}
        self.ready_timeout = ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EmbeddedProcess:
        env = {**os.environ, **self._env, "PORT": str(self.port), "MICROBLOG_DATA_DIR": str(self.data_dir)}
        with self.log_path.open("a") as log:  # a restart on the same folder keeps the earlier log
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "devstack", "run"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"embedded mode exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.gateway_url}/health/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"embedded mode not ready in {self.ready_timeout}s:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """Ctrl-C, as a user would; returns the exit code."""
        if self._proc is None or self._proc.poll() is not None:
            return self._proc.returncode if self._proc else None
        os.killpg(self._proc.pid, signal.SIGINT)
        try:
            return self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            return self._proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill: no shutdown of any kind. The data folder
        stays; `start()` again runs on it."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> EmbeddedProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
