"""What the benchmarks share around the load generator (loadgen.py): targets, one measured run
with the CPU time of the processes under test, the machine's description, the results table and
the files in bench/results/."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from loadgen import LoadResult, pick_tool, run_load

from devstack.proc import CLOCK_TICKS, cpu_seconds, stat_fields
from devstack.servers import missing_server_packages


@dataclass
class Target:
    name: str
    url: str
    headers: Callable[[], dict[str, str]]  # called right before each run: signatures expire
    cpu_pids: dict[str, int]  # processes whose CPU time is charged to this target, by role
    expect_status: int = 200
    method: str = "GET"
    body: str | None = None  # the same for every request (its Content-Type goes in `headers`)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its descendants, those still running and those it has reaped (a
    server forking a process per connection, as PostgreSQL does, or a broker's helpers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = stat_fields(int(entry.name))
            except OSError:  # gone meanwhile
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = stat_fields(current)
        except OSError:
            continue
        # utime, stime, then cutime and cstime: the children it has waited for.
        total += sum(int(f) for f in fields[11:15]) / CLOCK_TICKS
        todo.extend(children.get(current, []))
    return total


def first_status(url: str, headers: Callable[[], dict[str, str]]) -> int:
    status = httpx.get(url, headers=headers(), timeout=5).status_code
    if status >= 500:
        raise RuntimeError(f"{url} answered {status}: pick a path the service answers")
    return status


def check(target: Target) -> str:
    """One request as the load will send it; the start of its answer, or an error if the status is
    not the expected one."""
    response = httpx.request(
        target.method, target.url, headers=target.headers(), content=target.body, timeout=30
    )
    if response.status_code != target.expect_status:
        raise RuntimeError(f"{target.url} answered {response.status_code}: {response.text[:300]}")
    return response.text[:80]


def wait_idle(pids: list[int], timeout: float = 30.0, window: float = 0.5) -> bool:
    """Wait until none of `pids` used more than two clock ticks of CPU over `window` seconds: the
    work on requests still in flight when a load run stopped (a server finishes them after the
    client has gone) is over. False if they were still busy at `timeout`."""
    deadline = time.monotonic() + timeout
    last = [cpu_seconds(pid) for pid in pids]
    while time.monotonic() < deadline:
        time.sleep(window)
        now = [cpu_seconds(pid) for pid in pids]
        if all(b - a <= 2 / CLOCK_TICKS for a, b in zip(last, now, strict=True)):
            return True
        last = now
    return False


def measure(target: Target, tool: str, connections: int, duration: float, warmup: float) -> dict:
    """A warm-up, then the measured run. CPU per request: each process's CPU time from the start
    of the run until it is idle again, over the requests answered plus, with wrk, those still in
    flight at its end (one per connection, finished by the server after wrk left; the Python
    client waits for its last answers)."""

    def run(seconds: float) -> LoadResult:
        return run_load(
            tool, target.url, target.headers(), connections, seconds, target.expect_status,
            method=target.method, body=target.body,
        )  # fmt: skip

    pids = list(target.cpu_pids.values())
    if warmup > 0:
        run(warmup)
    wait_idle(pids)
    before = {role: cpu_seconds(pid) for role, pid in target.cpu_pids.items()}
    result = run(duration)
    wait_idle(pids)
    cpu = {role: cpu_seconds(pid) - before[role] for role, pid in target.cpu_pids.items()}
    served = result.requests + (connections if tool == "wrk" else 0)
    cpu_us = {role: round(seconds * 1e6 / served, 1) for role, seconds in cpu.items()}
    return {"target": target.name, "url": target.url, **result.as_dict(), "cpu_us_per_request": cpu_us}


def print_row(row: dict, width: int = 28) -> None:
    print(
        f"  {row['target']:<{width}} c={row['connections']:<3} {row['rps']:>8.1f} req/s"
        f"  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms  errors {row['errors']}",
        flush=True,
    )


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| target | conns | req/s | p50 ms | p90 ms | p99 ms | errors | CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        cpu = ", ".join(f"{role} {us:.0f}" for role, us in r["cpu_us_per_request"].items())
        rps = f"{r['rps']:.0f}" if r["rps"] >= 100 else f"{r['rps']:.1f}"
        lines.append(
            f"| {r['target']} | {r['connections']} | {rps} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} "
            f"| {r['p99_ms']:.2f} | {r['errors']} | {cpu} |"
        )
    return "\n".join(lines)


def machine_info(tool: str) -> dict:
    cpu_model = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "load_average_before": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_tool": tool,
    }


def write_results(out: Path, prefix: str, stamp: str, result: dict, markdown: str) -> Path:
    """`<prefix>-<stamp>.json` (everything), `<prefix>-<stamp>.md` and `<prefix>-latest.md`."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{prefix}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    (out / f"{prefix}-{stamp}.md").write_text(markdown)
    (out / f"{prefix}-latest.md").write_text(markdown)
    return path


BENCH_DIR = Path(__file__).resolve().parent


def load_arguments(description: str, *, connections: str = "1,32") -> argparse.ArgumentParser:
    """The options every benchmark takes: how long, how many connections, which load tool, where
    the results go."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of unmeasured load before each run"
    )
    parser.add_argument("--connections", default=connections, help="comma-separated connection counts")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    return parser


def routed_path_arguments(parser: argparse.ArgumentParser) -> None:
    """Which cheap routed endpoint stands for "a request through the gateway"."""
    parser.add_argument("--service", default="notify", help="the service whose endpoint is called")
    parser.add_argument(
        "--path", default="/api/v1/streaming/health", help="a routed path --service answers cheaply"
    )


def prepare(args: argparse.Namespace) -> tuple[str, list[int], dict] | None:
    """The load tool, the connection counts and the machine's description, printed; None (and why,
    on stderr) when the servers the benchmark starts are not installed."""
    missing = missing_server_packages()
    if missing:
        print(f"Missing Debian packages {missing}: run `make servers` first", file=sys.stderr)
        return None
    tool = pick_tool(args.tool)
    info = machine_info(tool)
    print(f"load tool: {tool}; {info['cpus']} CPUs ({info['cpu_model']}); load {info['load_average_before']}")
    return tool, [int(c) for c in args.connections.split(",")], info
