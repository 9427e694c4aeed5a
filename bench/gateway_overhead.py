"""What the gateway costs: one trivial service endpoint called through the gateway and straight on
the service (signed as the gateway would), one endpoint the gateway answers itself (its floor),
and uvicorn hello-world baselines, at a few connection counts, over a LocalStack (real PostgreSQL
and RabbitMQ, one uvicorn per process).

Run with `make bench` (or `uv run python bench/gateway_overhead.py --help`). Results are printed
and written to bench/results/ as JSON and markdown."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from harness import (
    BENCH_DIR,
    Target,
    check,
    first_status,
    load_arguments,
    markdown_table,
    measure,
    prepare,
    print_row,
    routed_path_arguments,
    write_results,
)

from devstack.servers import free_port
from devstack.stack import LocalStack
from microblog_common.internal_auth import sign_request

# Answered by the gateway itself (no upstream hop) through the same middleware as proxied calls.
GATEWAY_OWN_PATH = "/api/v1/instance"


def start_uvicorn(app: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(BENCH_DIR),
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]  # fmt: skip
    with log_path.open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/", timeout=1)
            return process, url
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start; log {log_path}") from None
            time.sleep(0.1)


def overhead_lines(rows: list[dict], through: str, direct: str, own: str) -> list[str]:
    out = []
    for conns in sorted({r["connections"] for r in rows}):
        a, b, c = (
            next((r for r in rows if r["target"] == name and r["connections"] == conns), None)
            for name in (through, direct, own)
        )
        if a and b and a["rps"] and b["rps"]:
            floor = f" (its own endpoint: {c['cpu_us_per_request']['gateway']:.0f} µs)" if c else ""
            out.append(
                f"- {conns} connection(s): the gateway adds {a['p50_ms'] - b['p50_ms']:+.2f} ms at p50, "
                f"{a['p99_ms'] - b['p99_ms']:+.2f} ms at p99; "
                f"throughput {a['rps'] / b['rps']:.0%} of direct; "
                f"gateway process CPU {a['cpu_us_per_request'].get('gateway', 0):.0f} µs per request{floor}"
            )
    return out


def main() -> int:
    parser = load_arguments(__doc__)
    routed_path_arguments(parser)
    parser.add_argument(
        "--expect-status",
        type=int,
        default=None,
        help="the status --path must answer with (default: whatever the service answers first, "
        "if not a 5xx: notify answers the default path's 404 until it serves it)",
    )
    args = parser.parse_args()

    prepared = prepare(args)
    if prepared is None:
        return 1
    tool, connections, info = prepared

    extra_env = {
        # Long runs with one signature: let the benchmarked service accept it for the whole run.
        args.service: {"INTERNAL_SIGNATURE_MAX_AGE_SECONDS": "3600"},
        # Rate limits stay on (counting is part of the gateway's cost) but can't trip.
        "gateway": {"RATE_LIMIT_DEFAULT": "1000000000/minute", "RATE_LIMIT_HEALTH": "1000000000/minute"},
    }
    hello_procs: list[subprocess.Popen] = []
    started = time.monotonic()
    with LocalStack(extra_env=extra_env) as stack:
        print(f"stack ready in {time.monotonic() - started:.1f}s (logs in {stack.base_dir})")
        try:
            bare, bare_url = start_uvicorn("hello_apps:bare_app", stack.base_dir / "hello-bare.log")
            fast, fast_url = start_uvicorn("hello_apps:fastapi_app", stack.base_dir / "hello-fastapi.log")
            hello_procs = [bare, fast]
            gateway_pid, service_pid = stack.pid("gateway"), stack.pid(args.service)
            assert gateway_pid and service_pid
            secret = stack.internal_secret
            through = f"gateway -> {args.service}"
            direct = f"{args.service} direct (signed)"
            own = "gateway own endpoint"

            def sign() -> dict[str, str]:
                return sign_request(secret, "GET", args.path, {})

            expect = args.expect_status or first_status(stack.service_urls[args.service] + args.path, sign)
            targets = [
                Target(through, stack.gateway_url + args.path, dict,
                       {"gateway": gateway_pid, args.service: service_pid}, expect),
                Target(direct, stack.service_urls[args.service] + args.path, sign,
                       {args.service: service_pid}, expect),
                Target(own, stack.gateway_url + GATEWAY_OWN_PATH, dict,
                       {"gateway": gateway_pid}),
                Target("FastAPI hello", fast_url + "/hello", dict, {"app": fast.pid}),
                Target("bare ASGI hello", bare_url + "/", dict, {"app": bare.pid}),
            ]  # fmt: skip
            for target in targets:
                print(f"  {target.name:<28} GET {target.url} -> {target.expect_status} {check(target)!r}")
            rows = []
            for conns in connections:
                for target in targets:
                    row = measure(target, tool, conns, args.duration, args.warmup)
                    rows.append(row)
                    print_row(row)
        finally:
            for process in hello_procs:
                process.terminate()
                process.wait(timeout=10)

    table = markdown_table(rows)
    summary = overhead_lines(rows, through, direct, own)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    params = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "path": args.path,
        "service": args.service,
        "expect_status": expect,
    }
    result = {"when": stamp, "machine": info, "parameters": params, "rows": rows, "summary": summary}
    markdown = (
        f"# Gateway benchmark {stamp}\n\n"
        f"{info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, load tool {tool}, "
        f"{args.duration:g}s per run after {args.warmup:g}s warm-up, `GET {args.path}` on {args.service} "
        f"(answering {expect}); the gateway's own endpoint is `GET {GATEWAY_OWN_PATH}`.\n\n"
        f"{table}\n\n" + "\n".join(summary) + "\n"
    )
    written = write_results(args.out, "gateway", stamp, result, markdown)
    print()
    print(table)
    print()
    print("\n".join(summary))
    print(f"\nwritten: {written} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
