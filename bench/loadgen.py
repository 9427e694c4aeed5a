"""Closed-loop HTTP load: N keep-alive connections, each sending its next request (a GET, or any
method with a fixed body) as soon as the last answer arrives, for a fixed duration. Two generators
with one result shape:

- `wrk` (C, epoll; Debian package `wrk`): the client costs little CPU, so more of the machine's
  two cores go to the servers under test. Preferred.
- a Python asyncio client (httpx, one connection pool of N): used when wrk is absent. It needs
  about as much CPU per request as the servers it measures, so on two cores it bounds the
  figures well below what the servers can do; compare rows of one run only."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# wrk's Lua hooks. `done` reports exact percentiles from wrk's latency histogram (microseconds).
# wrk itself counts any status >= 400 as an error; when such a status is expected, a `response`
# hook counts the unexpected ones instead. That hook hands every response to Lua, which costs wrk
# CPU the servers under test would otherwise have, so it is added only then.
WRK_REPORT = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local unexpected = 0
  for _, thread in ipairs(threads) do unexpected = unexpected + (thread:get("unexpected") or 0) end
  io.write("WRK_JSON ")
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "unexpected": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout, unexpected,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""
WRK_EXPECT = """
unexpected = 0
response = function(status, headers, body)
  if status ~= %d then unexpected = unexpected + 1 end
end
"""


@dataclass
class LoadResult:
    tool: str
    connections: int
    duration_s: float
    requests: int
    errors: int  # unexpected statuses (by default: any >= 400), socket errors and timeouts
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict:
        return asdict(self)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def pick_tool(choice: str) -> str:
    """`--tool auto`: wrk when it is installed, else the Python client."""
    return ("wrk" if wrk_available() else "python") if choice == "auto" else choice


def lua_string(text: str) -> str:
    """A Lua string literal (ASCII text: request bodies, header values)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def run_wrk(
    url: str,
    headers: dict[str, str],
    connections: int,
    duration: float,
    expect_status: int | None = None,
    *,
    method: str = "GET",
    body: str | None = None,
    lua: str = "",
) -> LoadResult:
    """`method` and `body` are the same for every request; `lua` is added to the script (e.g. a
    `request` function building a different body each time)."""
    count_unexpected = expect_status is not None and expect_status >= 400
    request = f"wrk.method = {lua_string(method)}\n" if method != "GET" else ""
    if body is not None:
        request += f"wrk.body = {lua_string(body)}\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_REPORT + request + lua + (WRK_EXPECT % expect_status if count_unexpected else ""))
    try:
        # One wrk thread: the other core is what the servers under test need most.
        # wrk takes whole seconds only ("0.5s" is refused).
        secs = max(1, math.ceil(duration))
        args = ["wrk", "-t1", f"-c{connections}", f"-d{secs}s", "--timeout", "10s", "-s", script.name]
        for name, value in headers.items():
            args += ["-H", f"{name}: {value}"]
        out = subprocess.run(
            [*args, url], capture_output=True, text=True, check=True, timeout=duration + 60
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no report:\n{out}")
    r = json.loads(line.removeprefix("WRK_JSON "))
    seconds = r["duration_us"] / 1e6
    status = "unexpected" if count_unexpected else "status_errors"
    errors = sum(r[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", status))
    return LoadResult(
        tool="wrk",
        connections=connections,
        duration_s=round(seconds, 2),
        requests=r["requests"],
        errors=errors,
        rps=round(r["requests"] / seconds, 1),
        p50_ms=r["p50_us"] / 1000,
        p90_ms=r["p90_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        max_ms=r["max_us"] / 1000,
    )


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


async def _python_load(
    url: str,
    headers: dict[str, str],
    connections: int,
    duration: float,
    expect_status: int | None,
    method: str,
    body: str | None,
) -> LoadResult:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10.0, headers=headers) as client:
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    response = await client.request(method, url, content=body)
                    ok = (
                        response.status_code == expect_status if expect_status else response.status_code < 400
                    )
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        tool="python-httpx",
        connections=connections,
        duration_s=round(elapsed, 2),
        requests=len(latencies),
        errors=errors,
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(_percentile(latencies, 0.50) * 1000, 3),
        p90_ms=round(_percentile(latencies, 0.90) * 1000, 3),
        p99_ms=round(_percentile(latencies, 0.99) * 1000, 3),
        max_ms=round((latencies[-1] if latencies else 0.0) * 1000, 3),
    )


def run_python(
    url: str,
    headers: dict[str, str],
    connections: int,
    duration: float,
    expect_status: int | None = None,
    *,
    method: str = "GET",
    body: str | None = None,
) -> LoadResult:
    return asyncio.run(_python_load(url, headers, connections, duration, expect_status, method, body))


def run_load(
    tool: str,
    url: str,
    headers: dict[str, str],
    connections: int,
    duration: float,
    expect_status: int | None = None,
    *,
    method: str = "GET",
    body: str | None = None,
) -> LoadResult:
    """The same request over and over: `method` with a fixed `body` (and its Content-Type in
    `headers`)."""
    if tool == "wrk":
        return run_wrk(url, headers, connections, duration, expect_status, method=method, body=body)
    return run_python(url, headers, connections, duration, expect_status, method=method, body=body)
