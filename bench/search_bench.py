"""The search service on the embedded index (tantivy) through the gateway, at 100,000 and 1,000,000
statuses: status search latency and throughput, how fast it indexes events, how long a post takes
to become searchable, and the search process's memory.

One PostgreSQL and one RabbitMQ (Debian packages) serve everything. For each size, the search
service's replica is generated with `search_data.py`, then a `LocalStack` runs with the search
service on that database: its event lane builds the index from the replica (a new generation,
timed: documents per second). Then, through the gateway, with wrk at each connection count:

- `status search`: `GET /api/v2/search?type=statuses&q=...`, rotating over queries of different
  shapes: a frequent word, a rare word, two words, a phrase, a typo, an operator (`from:`,
  `language:`, `has:link`), newest first (`sort=latest`);
- `FastAPI hello`: a bare FastAPI app on the same uvicorn, the baseline every figure is reported
  against (a share of its requests per second in the same run), since the machine's speed varies;

then:

- indexing throughput: N `post.published` events published straight to RabbitMQ, timed from the
  first publish until every one is in the index (events per second through the consumer, the
  replica and the indexer);
- post-to-searchable lag: statuses posted through the gateway one at a time, each searched for
  until it is found (p50, p99);
- memory: the search process's resident set (VmRSS) after all of the above.

    uv run python bench/search_bench.py                       # 100,000 and 1,000,000 statuses
    uv run python bench/search_bench.py --sizes 100000 --duration 5"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg2
from accounts import register
from gateway_overhead import start_uvicorn
from harness import load_arguments, prepare, wait_idle, write_results
from loadgen import run_load, run_wrk
from profiling import py_spy, top
from search_data import generate

from devstack.servers import PostgresServer, RabbitMQServer, make_base_dir
from devstack.stack import LocalStack
from microblog_common.events import Event
from microblog_common.events.rabbitmq import RabbitBus
from microblog_common.events.topology import CONSUMED_EVENTS
from microblog_common.ids import new_id
from microblog_common.migrations import upgrade_to_head
from search.app import SPEC as SEARCH

HELLO = "FastAPI hello"


def queries(words: dict[str, str], author: str) -> list[str]:
    frequent, common, rare, rarer = (
        words["rank_10"],
        words["rank_100"],
        words["rank_1000"],
        words["rank_5000"],
    )
    typo = rare[:2] + rare[3] + rare[2] + rare[4:]  # two letters swapped
    return [
        frequent,
        rarer,
        f"{common} {rare}",
        f'"{frequent} {common}"',
        typo,
        f"{common} from:{author}",
        f"{rare} language:fr",
        f"{common} has:link",
        f"{common} -{frequent}",
    ]


def wrk_rotation(paths: list[str]) -> str:
    listed = ", ".join(json.dumps(p) for p in paths)
    return f"""
paths = {{{listed}}}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory: all of it, and the process's own (anonymous) part apart from the index
    files mapped into it (file pages the kernel can drop and re-read)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return {
        name: round(int(fields[key].split()[0]) / 1024, 1)
        for name, key in (("rss", "VmRSS"), ("anonymous", "RssAnon"), ("files", "RssFile"), ("peak", "VmHWM"))
    }


def wait_current(database_url: str, timeout: float = 3600) -> float:
    """Once the search service has a current index generation and nothing queued: how long the
    build took (from its request to the switch, as the service recorded them)."""
    started = time.monotonic()
    with psycopg2.connect(database_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            while True:
                cur.execute(
                    "SELECT (SELECT extract(epoch FROM finished_at - requested_at) FROM index_generations "
                    "WHERE state = 'current'), "
                    "(SELECT count(*) FROM index_generations WHERE state IN ('requested', 'building')), "
                    "(SELECT count(*) FROM index_changes)"
                )
                built, building, queued = cur.fetchone()
                if built is not None and not building and not queued:
                    return float(built)
                if time.monotonic() - started > timeout:
                    raise RuntimeError("the index was not built in time")
                time.sleep(0.2)


def status_event(author_id: int, acct: str, word: str, n: int) -> Event:
    status_id = new_id()
    now = datetime.now(UTC).isoformat()
    data = {
        "id": str(status_id), "account_id": str(author_id), "acct": acct,
        "url": f"http://127.0.0.1/@{acct}/{status_id}", "uri": f"http://127.0.0.1/users/{acct}/statuses/{status_id}",
        "text": f"indexing run {word} number {n}", "html": f"<p>indexing run {word} number {n}</p>",
        "spoiler_text": "", "sensitive": False, "visibility": "public", "language": "en",
        "in_reply_to_id": None, "in_reply_to_account_id": None, "mentions": [], "tags": [],
        "created_at": now, "edited_at": None, "version": 1,
    }  # fmt: skip
    return Event(type="post.published", producer="posts", subject=str(status_id), version=1, data=data)


async def publish_events(rabbitmq_url: str, events: list[Event]) -> None:
    bus = RabbitBus(rabbitmq_url, topology=CONSUMED_EVENTS, connection_name="bench")
    await bus.start()
    try:
        for i in range(0, len(events), 500):
            await bus.publish(events[i : i + 500])
    finally:
        await bus.close()


def indexing_throughput(stack: LocalStack, database_url: str, count: int) -> dict:
    """Statuses by 100 of the corpus's accounts, in turn."""
    word = f"idx{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(database_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT id, username FROM accounts ORDER BY id LIMIT 100")
            authors = cur.fetchall()
            events = [status_event(*authors[n % len(authors)], word, n) for n in range(count)]
            cur.execute("SELECT count(*) FROM inbox")
            before = cur.fetchone()[0]
            started = time.monotonic()
            assert stack.rabbitmq_url is not None
            asyncio.run(publish_events(stack.rabbitmq_url, events))
            published = time.monotonic() - started
            while True:
                cur.execute("SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM index_changes)")
                handled, queued = cur.fetchone()
                if handled - before >= count and queued == 0:
                    break
                if time.monotonic() - started > 1800:
                    raise RuntimeError("indexing did not finish within 30 minutes")
                time.sleep(0.05)
    seconds = time.monotonic() - started
    return {"events": count, "seconds": round(seconds, 2), "events_per_second": round(count / seconds, 1),
            "publish_seconds": round(published, 2)}  # fmt: skip


def post_lag(gateway: str, token: str, count: int) -> dict:
    auth = {"Authorization": f"Bearer {token}"}
    lags = []
    with httpx.Client(base_url=gateway, headers=auth, timeout=30) as client:
        for n in range(count):
            word = f"lag{uuid.uuid4().hex[:10]}"
            started = time.monotonic()
            posted = client.post("/api/v1/statuses", json={"status": f"measuring {word} {n}"})
            if posted.status_code != 200:
                raise RuntimeError(f"posting answered {posted.status_code}: {posted.text[:300]}")
            while True:
                found = client.get("/api/v2/search", params={"q": word, "type": "statuses"}).json()[
                    "statuses"
                ]
                if found:
                    lags.append(time.monotonic() - started)
                    break
                if time.monotonic() - started > 30:
                    raise RuntimeError(f"{word} not searchable after 30 s")
                time.sleep(0.005)
            time.sleep(0.1)
    lags.sort()
    return {
        "posts": count,
        "p50_ms": round(statistics.median(lags) * 1000, 1),
        "p99_ms": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000, 1),
        "max_ms": round(lags[-1] * 1000, 1),
    }


def run_size(pg: PostgresServer, mq: RabbitMQServer, base: Path, size: int, tool: str, args) -> dict:
    name = f"search_bench_{size}"
    pg.drop_database(name)
    url = pg.url_for(name)
    pg.create_database(name)
    raw_url = url.replace("postgresql+psycopg2://", "postgresql://")
    upgrade_to_head(SEARCH.migrations, url)
    print(f"generating {size:,} statuses...", flush=True)
    corpus = generate(raw_url, statuses=size)
    print(f"  {corpus}", flush=True)
    extra_env = {
        "search": {"DATABASE_URL": url},
        "gateway": {"RATE_LIMIT_DEFAULT": "1000000000/minute", "RATE_LIMIT_REGISTRATION": "1000/minute"},
    }
    result: dict = {"statuses": size, "corpus": corpus, "rows": []}
    with LocalStack(base / f"stack-{size}", postgres=pg, rabbitmq=mq, extra_env=extra_env) as stack:
        result["index_build_seconds"] = round(wait_current(raw_url), 1)
        result["index_build_documents_per_second"] = round(size / max(result["index_build_seconds"], 0.001))
        print(f"  index built in {result['index_build_seconds']} s", flush=True)
        account = register(stack.gateway_url, "reader")
        auth = {"Authorization": f"Bearer {account.token}"}
        paths = [
            "/api/v2/search?" + str(httpx.QueryParams({"q": q, "type": "statuses"}))
            for q in queries(corpus["words"], corpus["busiest_author"])
        ] + ["/api/v2/search?" + str(httpx.QueryParams({"q": corpus["words"]["rank_100"], "type": "statuses",
                                                        "sort": "latest"}))]  # fmt: skip
        for path in paths:  # each answers, with results
            answer = httpx.get(stack.gateway_url + path, headers=auth, timeout=30)
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
            result.setdefault("hits", {})[path] = len(answer.json()["statuses"])
        hello, hello_url = start_uvicorn("hello_apps:fastapi_app", stack.base_dir / "hello-fastapi.log")
        try:
            busy = [pid for pid in (stack.pid("gateway"), stack.pid("search")) if pid]
            for conns in [int(c) for c in args.connections.split(",")]:
                for target, run in (
                    ("status search", lambda c, d: run_wrk(stack.gateway_url + paths[0], auth, c, d,
                                                           lua=wrk_rotation(paths)) if tool == "wrk"
                     else run_load(tool, stack.gateway_url + paths[0], auth, c, d)),
                    (HELLO, lambda c, d: run_load(tool, hello_url + "/hello", {}, c, d)),
                ):  # fmt: skip
                    if args.warmup > 0:
                        run(conns, args.warmup)
                    wait_idle(busy)
                    with contextlib.ExitStack() as profiles:
                        if args.profile and target != HELLO:
                            for process in ("search", "gateway"):
                                out = args.out / f"search-profile-{size}-c{conns}-{process}.txt"
                                profiles.enter_context(py_spy(stack.pid(process) or 0, out, args.duration))
                                result.setdefault("profiles", []).append(str(out))
                        row = {"target": target, "statuses": size, **run(conns, args.duration).as_dict()}
                    result["rows"].append(row)
                    print(
                        f"  {target:<14} c={conns:<3} {row['rps']:>8.1f} req/s  p50 {row['p50_ms']:.2f} ms  "
                        f"p99 {row['p99_ms']:.2f} ms  errors {row['errors']}",
                        flush=True,
                    )
        finally:
            hello.terminate()
            hello.wait(timeout=10)
        for path in result.get("profiles", []):
            if Path(path).exists():
                lines = [f"    {share:6.1%}  {frame}" for frame, share in top(Path(path))]
                print(f"  profile {path}:", *lines, sep="\n", flush=True)
        result["indexing"] = indexing_throughput(stack, raw_url, args.events)
        print(f"  indexing: {result['indexing']}", flush=True)
        result["lag"] = post_lag(stack.gateway_url, account.token, args.lag_posts)
        print(f"  post to searchable: {result['lag']}", flush=True)
        search_pid = stack.pid("search")
        result["search_memory_mb"] = rss_mb(search_pid) if search_pid else None
        print(f"  search process memory (MB): {result['search_memory_mb']}", flush=True)
    if not args.keep:
        pg.drop_database(name)
    return result


def markdown(results: list[dict]) -> str:
    lines = [
        "| statuses | conns | status search req/s (share of FastAPI hello) | p50 ms | p99 ms | errors |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for row in result["rows"]:
            if row["target"] != "status search":
                continue
            hello = next(
                r for r in result["rows"] if r["target"] == HELLO and r["connections"] == row["connections"]
            )
            share = row["rps"] / hello["rps"] if hello["rps"] else 0
            lines.append(
                f"| {result['statuses']:,} | {row['connections']} | {row['rps']:.0f} "
                f"({share:.1%} of {hello['rps']:.0f}) | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
                f"| {row['errors']} |"
            )
    lines += ["", "| statuses | index build (docs/s) | indexing events/s | post to searchable p50 / p99 ms | "
              "search RSS MB (anonymous + index files; peak) |", "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in results:
        build = f"{r['index_build_seconds']} s ({r['index_build_documents_per_second']:,})"
        m = r["search_memory_mb"] or {}
        memory = f"{m.get('rss')} ({m.get('anonymous')} + {m.get('files')}; peak {m.get('peak')})"
        lines.append(
            f"| {r['statuses']:,} | {build} | {r['indexing']['events_per_second']} "
            f"| {r['lag']['p50_ms']} / {r['lag']['p99_ms']} | {memory} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = load_arguments(__doc__, connections="1,8")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated status counts")
    parser.add_argument("--events", type=int, default=20_000, help="events for the indexing throughput")
    parser.add_argument("--lag-posts", type=int, default=100, help="posts timed until searchable")
    parser.add_argument("--keep", action="store_true", help="keep the servers' files (the indexes too)")
    parser.add_argument(
        "--profile", action="store_true",
        help="py-spy the search and gateway processes during each status search run (raw profiles in --out)",
    )  # fmt: skip
    args = parser.parse_args()
    prepared = prepare(args)
    if prepared is None:
        return 1
    tool, _, info = prepared
    base = make_base_dir("microblog-bench-search-")
    results: list[dict] = []
    failed = False
    try:
        with PostgresServer(base / "postgres") as pg, RabbitMQServer(base / "rabbitmq") as mq:
            for size in [int(s) for s in args.sizes.split(",")]:
                results.append(run_size(pg, mq, base, size, tool, args))
    except Exception:
        failed = True
        print(f"failed; logs kept in {base}", file=sys.stderr)
        raise
    finally:
        if results:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            text = markdown(results)
            everything = {"machine": info, "args": vars(args) | {"out": str(args.out)}, "results": results}
            path = write_results(args.out, "search", stamp, everything, text)
            print(text + f"\nresults: {path}")
        if args.keep:
            print(f"files kept in {base}")
        elif not failed:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
