"""Translation through the gateway: `POST /api/v1/statuses/:id/translate` on a cache hit and on a
cache miss, beside a bare FastAPI hello on the same uvicorn, at a few connection counts, over a
LocalStack (real PostgreSQL and RabbitMQ, one uvicorn per process), the translate service
translating with the local Microsoft Translator stand-in (`devstack.translation_providers`, its
own process: a real HTTP server answering at once).

- `hit`: the same status and language over and over. The gateway (token, rate limits, signing,
  proxying), then the translate service: its replica of the status, who may see it, the target
  language, one indexed read of the cache and one of the rate-limit counter. No provider.
- `miss`: each request a status never translated into that language (wrk walks through a few
  thousand statuses posted beforehand; each run uses another language, so every pair is new).
  Adds the count against the rate limit, the provider round trip and the cache write.
- `FastAPI hello`: `GET /hello` on a bare FastAPI app: what any endpoint pays. The summary gives
  each translate row as a share of it (throughput) and as a multiple of it (latency).

The issue's goal: a hit under 10 ms at p99 with 32 connections.

    uv run python bench/translate_status.py                       # defaults: --connections 1,32 --duration 10
    uv run python bench/translate_status.py --connections 32 --duration 5 --miss-statuses 2000

Results are printed and written to bench/results/ (translate-<timestamp>.json and .md,
translate-latest.md). The miss rows need wrk (the Python client can't vary the path)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg2
from accounts import BenchAccount, register
from gateway_overhead import start_uvicorn
from harness import (
    Target,
    check,
    cpu_seconds,
    load_arguments,
    markdown_table,
    measure,
    prepare,
    print_row,
    wait_idle,
    write_results,
)
from loadgen import run_wrk

from devstack.servers import free_port, make_base_dir
from devstack.stack import LocalStack

NO_LIMIT = "1000000000/minute"
HIT, MISS, HELLO = "translate: cache hit", "translate: cache miss", "FastAPI hello"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# The stand-in's languages besides English (the posts' language): one per miss run and warm-up.
MISS_LANGUAGES = ("de", "fr", "es", "it", "ja", "pt", "nb", "zh-Hans", "zh-Hant", "pt-PT")
STAND_IN_KEY = "test-microsoft-key"  # the stand-in's default key


def start_stand_in(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [sys.executable, "-m", "devstack.translation_providers", "microsoft", "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/languages", params={"api-version": "3.0"}, timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Microsoft Translator stand-in did not start; log {log_path}")
        time.sleep(0.1)


def post_statuses(gateway_url: str, account: BenchAccount, count: int, concurrency: int = 8) -> None:
    """`count` statuses with distinct texts, through the API."""

    async def run() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)
        headers = {"Authorization": f"Bearer {account.token}"}
        async with httpx.AsyncClient(base_url=gateway_url, headers=headers, timeout=60) as client:

            async def worker() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    text = f"Benchmark post number {i}: the quick brown fox jumps over the lazy dog."
                    answer = await client.post("/api/v1/statuses", json={"status": text, "language": "en"})
                    if answer.status_code != 200:
                        raise RuntimeError(f"posting answered {answer.status_code}: {answer.text[:300]}")

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())


def replicated_ids(database_url: str, account_id: int, count: int, timeout: float = 120) -> list[int]:
    """The ids of the account's statuses once the translate service holds `count` of them."""
    url = database_url.replace("postgresql+psycopg2://", "postgresql://")
    deadline = time.monotonic() + timeout
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        while True:
            cur.execute("SELECT id FROM statuses WHERE account_id = %s ORDER BY id", (account_id,))
            ids = [row[0] for row in cur.fetchall()]
            conn.commit()
            if len(ids) >= count:
                return ids
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(ids)} of {count} statuses reached the translate service")
            time.sleep(0.5)


def translations_into(database_url: str, language: str) -> int:
    url = database_url.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM translations WHERE target_language = %s", (language,))
        row = cur.fetchone()
    return int(row[0]) if row else 0


def walking_lua(ids: list[int], language: str) -> str:
    """A wrk script whose every request translates the next status (one wrk thread: one counter)."""
    listed = ",".join(f'"{i}"' for i in ids)  # strings: Lua numbers are doubles
    return (
        f"ids = {{{listed}}}\n"
        "counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        "  local id = ids[((counter - 1) % #ids) + 1]\n"
        f'  return wrk.format("POST", "/api/v1/statuses/" .. id .. "/translate", nil, "lang={language}")\n'
        "end\n"
    )


def measure_misses(
    url: str,
    headers: dict[str, str],
    ids: list[int],
    language: str,
    connections: int,
    duration: float,
    cpu_pids: dict[str, int],
    database_url: str,
) -> dict:
    """One run of misses (no warm-up: it would use up statuses; the hit runs warmed the stack)."""
    pids = list(cpu_pids.values())
    wait_idle(pids)
    before_rows = translations_into(database_url, language)
    before = {role: cpu_seconds(pid) for role, pid in cpu_pids.items()}
    result = run_wrk(url, headers, connections, duration, lua=walking_lua(ids, language))
    wait_idle(pids)
    cpu = {role: cpu_seconds(pid) - before[role] for role, pid in cpu_pids.items()}
    served = result.requests + connections
    misses = translations_into(database_url, language) - before_rows
    return {
        "target": MISS,
        "url": url,
        **result.as_dict(),
        "cpu_us_per_request": {role: round(s * 1e6 / served, 1) for role, s in cpu.items()},
        "language": language,
        "misses": misses,
    }


def summary_lines(rows: list[dict]) -> list[str]:
    out = []
    for conns in sorted({r["connections"] for r in rows}):
        hello = next((r for r in rows if r["target"] == HELLO and r["connections"] == conns), None)
        for name in (HIT, MISS):
            row = next((r for r in rows if r["target"] == name and r["connections"] == conns), None)
            if row is None or hello is None or not hello["rps"] or not row["requests"]:
                continue
            line = (
                f"- {conns} connection(s), {name}: p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms "
                f"({row['p99_ms'] / hello['p99_ms']:.1f}x FastAPI hello's p99); {row['rps']:.0f} req/s, "
                f"{row['rps'] / hello['rps']:.0%} of FastAPI hello's"
            )
            if name == MISS:
                line += f"; {row['misses']} of {row['requests']} requests were misses"
            if name == HIT and conns == 32:
                line += f"; goal p99 < 10 ms: {'met' if row['p99_ms'] < 10 else 'NOT met'}"
            out.append(line)
    return out


def main() -> int:
    parser = load_arguments(__doc__)
    parser.add_argument("--miss-duration", type=float, default=5.0, help="seconds measured per miss run")
    parser.add_argument(
        "--miss-statuses", type=int, default=3000, help="distinct statuses posted for the miss runs"
    )
    args = parser.parse_args()
    prepared = prepare(args)
    if prepared is None:
        return 1
    tool, connections, info = prepared
    if len(connections) + 1 > len(MISS_LANGUAGES):
        print(f"at most {len(MISS_LANGUAGES) - 1} connection counts", file=sys.stderr)
        return 1

    base = make_base_dir("microblog-bench-translate-")
    processes: list[subprocess.Popen[bytes]] = []
    rows: list[dict] = []
    ok = False
    try:
        stand_in, stand_in_url = start_stand_in(base / "stand-in.log")
        processes.append(stand_in)
        extra_env = {
            "translate": {
                "MICROSOFT_TRANSLATOR_KEY": STAND_IN_KEY,
                "MICROSOFT_TRANSLATOR_ENDPOINT": stand_in_url,
                # The benchmark's one reader translates far more than an account may.
                "TRANSLATION_RATE_LIMIT": "1000000000",
            },
            # Rate limits stay on (counting is part of the gateway's cost) but can't trip.
            "gateway": {"RATE_LIMIT_DEFAULT": NO_LIMIT, "RATE_LIMIT_HEALTH": NO_LIMIT},
        }
        started = time.monotonic()
        with LocalStack(base / "stack", extra_env=extra_env) as stack:
            print(f"stack ready in {time.monotonic() - started:.1f}s (logs in {stack.base_dir})")
            fast, fast_url = start_uvicorn("hello_apps:fastapi_app", stack.base_dir / "hello-fastapi.log")
            processes.append(fast)
            account = register(stack.gateway_url, "translate")
            auth = {"Authorization": f"Bearer {account.token}"}
            translate_db = stack.database_urls["translate"]

            print(f"posting {args.miss_statuses} statuses ...", flush=True)
            post_statuses(stack.gateway_url, account, args.miss_statuses + 1)
            ids = replicated_ids(translate_db, account.id, args.miss_statuses + 1)
            hit_id, miss_ids = ids[0], ids[1:]
            hit_url = f"{stack.gateway_url}/api/v1/statuses/{hit_id}/translate"

            gateway, translate = stack.pid("gateway"), stack.pid("translate")
            assert gateway and translate
            routed = {"gateway": gateway, "translate": translate}
            # Hits are into a language none of the miss runs uses.
            hit_body = f"lang={MISS_LANGUAGES[-1]}"
            hit = Target(HIT, hit_url, lambda: {**auth, **FORM}, routed, method="POST", body=hit_body)
            hello = Target(HELLO, fast_url + "/hello", dict, {"app": fast.pid})
            for target in (hit, hello):
                print(f"  {target.name:<24} {target.method} {target.url} -> {check(target)!r}")
            miss_url = f"{stack.gateway_url}/api/v1/statuses/{miss_ids[0]}/translate"
            probe = httpx.post(miss_url, headers=auth, data={"lang": MISS_LANGUAGES[0]}, timeout=30)
            if probe.status_code != 200:
                raise RuntimeError(f"a miss answered {probe.status_code}: {probe.text[:300]}")

            for index, conns in enumerate(connections):
                for target in (hit, hello):
                    row = measure(target, tool, conns, args.duration, args.warmup)
                    rows.append(row)
                    print_row(row)
                if tool != "wrk":
                    print("  (miss rows need wrk: skipped)")
                    continue
                language = MISS_LANGUAGES[index + 1]
                row = measure_misses(
                    miss_url,
                    {**auth, **FORM},
                    miss_ids,
                    language,
                    conns,
                    args.miss_duration,
                    routed,
                    translate_db,
                )
                rows.append(row)
                print_row(row)
        ok = not any(r["errors"] or not r["requests"] for r in rows)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        if ok:
            shutil.rmtree(base, ignore_errors=True)
        else:
            shutil.rmtree(base / "stack" / "postgres", ignore_errors=True)
            print(f"errors or a failed run: the logs are kept in {base}", file=sys.stderr)

    table = markdown_table(rows)
    summary = summary_lines(rows)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    params = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "miss_duration_s": args.miss_duration,
        "miss_statuses": args.miss_statuses,
    }
    result = {"when": stamp, "machine": info, "parameters": params, "rows": rows, "summary": summary}
    markdown = (
        f"# Translate benchmark {stamp}\n\n"
        f"{info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, load tool {tool}, "
        f"{args.duration:g}s per hit run after {args.warmup:g}s warm-up, {args.miss_duration:g}s per miss "
        f"run over {args.miss_statuses} statuses, through the gateway; the provider is the local "
        f"Microsoft Translator stand-in.\n\n{table}\n\n" + "\n".join(summary) + "\n"
    )
    written = write_results(args.out, "translate", stamp, result, markdown)
    print()
    print(table)
    print()
    print("\n".join(summary))
    print(f"\nwritten: {written} and .md")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
