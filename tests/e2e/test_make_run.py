"""`make run` on the embedded default: the whole microblog in one process, every service ready."""

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from devstack.embedded import new_bus
from devstack.servers import free_port
from microblog_common.events import Event
from microblog_common.events.bus import Subscription

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"users", "posts", "search", "translate", "notify", "web"}


@pytest.fixture
def make_run(tmp_path):
    port = free_port()
    log = (tmp_path / "run.log").open("w+")
    env = {**os.environ, "PORT": str(port), "MICROBLOG_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield proc, f"http://127.0.0.1:{port}", tmp_path / "data", log
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen, log, timeout: float = 120) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"make run exited with {proc.returncode}:\n{log.read()[-3000:]}")
        try:
            last = httpx.get(f"{url}/health/ready", timeout=2)
            if last.status_code == 200:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    log.seek(0)
    pytest.fail(f"not ready in {timeout}s (last: {last and last.text}):\n{log.read()[-3000:]}")


def test_make_run_serves_every_service_ready_and_stops_cleanly(make_run):
    proc, url, data_dir, log = make_run
    ready = _wait_ready(url, proc, log)
    body = ready.json()
    assert body["checks"] == dict.fromkeys(SERVICES, "ok"), body
    # Each service keeps its own SQLite database under the data dir.
    assert {p.stem for p in data_dir.glob("*.db")} == SERVICES
    r = httpx.get(f"{url}/api/v1/instance", timeout=5)
    assert r.status_code == 200 and r.headers["x-request-id"]
    # A forged identity header does not get through to a service.
    r = httpx.get(f"{url}/api/v1/accounts/verify_credentials", headers={"X-User-Id": "1"}, timeout=5)
    assert r.status_code in (401, 404) and "error" in r.json()

    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    proc.wait(timeout=30)
    log.seek(0)
    output = log.read()
    assert "microblog_stopped" in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    # One process, six servers: no line says the same thing once per service at start or stop,
    # and uvicorn's ordinary lines don't carry its misleading "uvicorn.error" logger name.
    messages = [line.split(" ", 1)[1] for line in output.splitlines() if line[:4].isdigit() and " " in line]
    lifecycle = [m for m in messages if " request " not in m]
    assert not {m for m in lifecycle if lifecycle.count(m) > 1}, lifecycle
    assert "uvicorn.error" not in output


async def test_the_embedded_bus_keeps_events_for_a_consumer_that_has_not_subscribed_yet():
    """Found by the verify suite (the embedded mode SIGKILLed while clients post): on the restart
    the posts relay republished two posts before notify had subscribed, and the shared bus, not
    knowing notify consumes them, dropped them for it: their mention notifications never came."""
    bus = new_bus()
    await bus.start()
    published = Event(type="post.published", producer="posts", subject="1", version=1, data={"id": "1"})
    await bus.publish([published])
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    await bus.subscribe(Subscription("notify", ("post.*",), handler))
    await bus.close()
    assert [e.id for e in seen] == [published.id]
