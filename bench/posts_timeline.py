"""The posts service under load through the gateway: the home timeline at a small and at a large
database side by side (does a page cost the same at a million statuses as at twenty thousand?),
and status creation throughput (each post fanned out to its author's ~100 followers).

One PostgreSQL and one RabbitMQ (Debian packages) serve everything. For each size, a posts
database is generated with `posts_data.py` (10,000 accounts, ~100 follows each, skewed), then a
`LocalStack` runs with its posts service pointed at it. A reader is registered through the API;
it takes over the follows, followers and home feed of a typical generated account (median
following), so its timeline is what a typical member of that network reads. Then, at each
connection count:

- `home p1`: `GET /api/v1/timelines/home` (20 statuses, the newest page);
- `home deep`: the same with `max_id` 1,000 entries down the reader's feed (an old page; in a
  feed shorter than that, its last full page);
- `create`: `POST /api/v1/statuses` (JSON), each one a new status fanned out to the reader's followers.

    uv run python bench/posts_timeline.py                       # 20,000 and 1,000,000 statuses
    uv run python bench/posts_timeline.py --sizes 20000,100000 --duration 5

Generating the million-status network takes a few minutes (about 70 million home feed rows)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from functools import partial
from pathlib import Path

import httpx
import psycopg2
from accounts import register
from harness import load_arguments, prepare, wait_idle, write_results
from loadgen import run_load, run_wrk
from posts_data import generate, typical_account

from devstack.servers import PostgresServer, RabbitMQServer, make_base_dir
from devstack.stack import LocalStack
from microblog_common.migrations import upgrade_to_head
from posts.app import SPEC as POSTS

DEEP_OFFSET = 1000
# Each request a new status (wrk builds the body); the Python client posts the same text each time.
WRK_POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"status": "Benchmark post number ' .. counter .. ' #bench"}')
end
"""
POST_BODY = '{"status": "Benchmark post #bench"}'


def adopt_network_position(database_url: str, reader: int, model: int) -> dict[str, int]:
    """The reader follows whom `model` follows, is followed by its followers, and gets its feed."""
    deadline = time.monotonic() + 30
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        while True:  # the reader reaches the posts service's replica through `user.registered`
            cur.execute("SELECT 1 FROM accounts WHERE id = %s", (reader,))
            if cur.fetchone():
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"account {reader} did not reach the posts service's replica within 30s "
                    "(see posts.log: is `user.registered` failing?)"
                )
            conn.commit()
            time.sleep(0.2)
        cur.execute(
            "INSERT INTO follows SELECT %s, target_account_id, true, now() FROM follows "
            "WHERE account_id = %s",
            (reader, model),
        )
        following = cur.rowcount
        cur.execute(
            "INSERT INTO follows SELECT account_id, %s, true, now() FROM follows "
            "WHERE target_account_id = %s",
            (reader, model),
        )
        followers = cur.rowcount
        cur.execute(
            "INSERT INTO home_feed SELECT %s, status_id, author_id FROM home_feed WHERE account_id = %s",
            (reader, model),
        )
        feed = cur.rowcount
        # An old page: 1,000 entries down, or the last full page of a shorter feed.
        deep = max(0, min(DEEP_OFFSET, feed - 20))
        cur.execute(
            "SELECT status_id FROM home_feed WHERE account_id = %s ORDER BY status_id DESC OFFSET %s LIMIT 1",
            (reader, deep),
        )
        row = cur.fetchone()
        cur.execute("ANALYZE home_feed")
    return {
        "following": following,
        "followers": followers,
        "feed": feed,
        "deep_offset": deep,
        "deep_max_id": row[0] if row else 0,
    }


def run_size(
    pg: PostgresServer, mq: RabbitMQServer, stack_dir: Path, size: int, tool: str, args: argparse.Namespace
) -> tuple[dict, list[dict]]:
    """A LocalStack whose posts service serves the generated database of `size` statuses; the
    reader's position in the network and the measured rows."""
    url = pg.url_for(f"posts_bench_{size}")
    raw_url = url.replace("postgresql+psycopg2://", "postgresql://")
    # Again: the posts code may have gained a migration since the data was generated (the
    # million-status generation takes minutes), and the service expects its schema at head.
    upgrade_to_head(POSTS.migrations, url)
    extra_env = {
        "posts": {"DATABASE_URL": url, "DB_POOL_SIZE": "20"},
        "gateway": {"RATE_LIMIT_DEFAULT": "1000000000/minute", "RATE_LIMIT_REGISTRATION": "1000/minute"},
    }
    rows: list[dict] = []
    # In `stack_dir`, so the processes' logs outlive a failed run.
    with LocalStack(stack_dir, postgres=pg, rabbitmq=mq, extra_env=extra_env) as stack:
        account = register(stack.gateway_url, "reader")
        auth = {"Authorization": f"Bearer {account.token}"}
        position = adopt_network_position(raw_url, account.id, typical_account(raw_url))
        print(f"  reader {account.id}: {position}", flush=True)
        home = stack.gateway_url + "/api/v1/timelines/home"
        deep = f"{home}?max_id={position['deep_max_id']}"
        post = stack.gateway_url + "/api/v1/statuses"
        # A first post waits for the language detector's models, which load in the background
        # at start-up: none of that in the measured runs.
        first = httpx.post(
            post, headers=auth, timeout=60, json={"status": "Hello, this is the benchmark reader."}
        )
        if first.status_code != 200:
            raise RuntimeError(f"the first post answered {first.status_code}: {first.text[:500]}")
        page = httpx.get(home, headers=auth, timeout=30)
        if page.status_code != 200 or len(page.json()) != 20:
            raise RuntimeError(f"the home timeline answered {page.status_code}: {page.text[:500]}")
        targets = {
            "home p1": partial(run_load, tool, home, auth),
            "home deep": partial(run_load, tool, deep, auth),
        }
        if tool == "wrk":
            targets["create"] = partial(run_wrk, post, auth, lua=WRK_POST)
        else:
            json_auth = {**auth, "Content-Type": "application/json"}
            targets["create"] = partial(run_load, tool, post, json_auth, method="POST", body=POST_BODY)
        busy = [pid for pid in (stack.pid("gateway"), stack.pid("posts")) if pid]
        for conns in [int(c) for c in args.connections.split(",")]:
            for name, run in targets.items():
                rows.append(measure(name, size, run, conns, args.duration, args.warmup, busy))
    return position, rows


def measure(
    name: str, size: int, run, connections: int, duration: float, warmup: float, busy: list[int]
) -> dict:
    """A warm-up, a wait until the `busy` processes have finished what it left in flight (a post
    the client left is still fanned out), then the measured run."""
    if warmup > 0:
        run(connections, warmup)
    wait_idle(busy)
    result = run(connections, duration).as_dict()
    row = {"target": name, "statuses": size, **result}
    print(
        f"  {name:<10} {size:>9,} statuses  c={connections:<3} {row['rps']:>8.1f} req/s  "
        f"p50 {row['p50_ms']:.1f} ms  p99 {row['p99_ms']:.1f} ms  errors {row['errors']}",
        flush=True,
    )
    return row


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| target | statuses | connections | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['target']} | {r['statuses']:,} | {r['connections']} | {r['rps']:.1f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = load_arguments(__doc__, connections="32")
    parser.add_argument("--sizes", default="20000,1000000", help="comma-separated status counts")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--follows", type=int, default=100)
    args = parser.parse_args()
    prepared = prepare(args)
    if prepared is None:
        return 1
    tool, _, info = prepared  # connection counts: read per dataset from args
    sizes = [int(s) for s in args.sizes.split(",")]

    base = make_base_dir("microblog-bench-posts-")
    rows: list[dict] = []
    datasets: dict[int, dict] = {}
    ok = False
    try:
        with PostgresServer(base / "postgres") as pg, RabbitMQServer(base / "rabbitmq") as mq:
            for size in sizes:
                url = pg.create_database(f"posts_bench_{size}")
                upgrade_to_head(POSTS.migrations, url)
                print(f"generating {size:,} statuses ...", flush=True)
                datasets[size] = generate(
                    url.replace("postgresql+psycopg2://", "postgresql://"),
                    accounts=args.accounts,
                    statuses=size,
                    follows=args.follows,
                    seed=1,
                    public_url="http://127.0.0.1",
                )
                print(f"  {json.dumps(datasets[size])}", flush=True)
            for size in sizes:
                datasets[size]["reader"], size_rows = run_size(
                    pg, mq, base / f"stack-{size}", size, tool, args
                )
                rows += size_rows
        ok = True
    finally:
        # The generated databases (GBs) go whatever happened; a failed run's logs stay.
        shutil.rmtree(base / "postgres" / "db", ignore_errors=True)
        if ok:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"failed: the servers' and the stacks' logs are in {base}", file=sys.stderr)

    table = markdown_table(rows)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result = {
        "when": stamp,
        "machine": info,
        "datasets": datasets,
        "rows": rows,
        "parameters": {"duration_s": args.duration, "warmup_s": args.warmup},
    }
    markdown = (
        f"# Posts benchmark {stamp}\n\n{info['cpus']} CPUs ({info['cpu_model']}), load tool {tool}, "
        f"{args.duration:g}s per run after {args.warmup:g}s warm-up, through the gateway.\n\n"
        f"Datasets: "
        + "; ".join(
            f"{s:,} statuses: {d['follows']:,} follows, {d['home_feed_rows']:,} home feed rows, "
            f"generated in {sum(d['seconds'].values()):.0f}s; the reader follows {d['reader']['following']}, "
            f"has {d['reader']['followers']} followers and {d['reader']['feed']:,} feed entries "
            f"(deep page {d['reader']['deep_offset']:,} down)"
            for s, d in datasets.items()
        )
        + f"\n\n{table}\n"
    )
    written = write_results(args.out, "posts", stamp, result, markdown)
    print()
    print(table)
    print(f"\nwritten: {written} and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
