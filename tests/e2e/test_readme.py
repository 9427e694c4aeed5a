"""The README's "Try the API by hand" works as written: its shell block (curl) and its Mastodon.py
block, copied out of the README and run against the microblog as `make run` serves it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from devstack.embedded_process import EmbeddedProcess

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.timeout(300)


def _block(language: str) -> str:
    section = README.read_text().split("## Try the API by hand", 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)
    assert match, f"no {language} block in the README's quickstart"
    return match.group(1)


@pytest.fixture(scope="module")
def microblog(tmp_path_factory):
    with EmbeddedProcess(tmp_path_factory.mktemp("readme") / "data") as running:
        yield running


def test_the_curl_quickstart_posts_and_reads_the_home_timeline(microblog) -> None:
    script = _block("sh").replace("MB=http://127.0.0.1:8000", f"MB={microblog.gateway_url}")
    assert f"MB={microblog.gateway_url}" in script
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert '"content":"<p>Hello, <a href=' in done.stdout  # the post, in the home timeline's answer
    assert '"username":"alice"' in done.stdout


def test_the_mastodon_py_quickstart_runs(microblog) -> None:
    code = _block("python").replace('base = "http://127.0.0.1:8000"', f'base = "{microblog.gateway_url}"')
    done = subprocess.run(["python", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Hello from Mastodon.py" in done.stdout
