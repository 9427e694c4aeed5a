"""Issue 14's table: the reads a client makes most and posting, through the gateway, as a share of
a bare FastAPI hello measured in the same run, in both run modes.

For each mode a network of `--accounts` accounts following `--follows` each and `--sizes` statuses
is generated into the posts service's database (`posts_data.py`: PostgreSQL by COPY in the
local-processes mode, the embedded mode's SQLite file through SQLAlchemy), the stack starts on it, a
reader registered through the API takes over a typical account's follows, followers and feed, and
then, closed-loop with wrk at `--connections`:

| target | request |
|---|---|
| `FastAPI hello` | `GET /hello` on a bare FastAPI app on the same uvicorn, first and last |
|  | (their mean is the ceiling the shares are of) |
| `account` | `GET /api/v1/accounts/:id` (users) |
| `home p1` | `GET /api/v1/timelines/home` |
| `home deep` | the same 1,000 entries down the reader's home (its last full page when shorter) |
| `public` | `GET /api/v1/timelines/public` |
| `hashtag` | `GET /api/v1/timelines/tag/tag0` (the most used tag) |
| `create (visibility)` | `POST /api/v1/statuses` naming its visibility |
| `create (defaults)` | the same leaving visibility and sensitivity to the author's defaults |
| `create (one author)` | the first row's request, all by the reader |

The create rows post as `--authors` (32) accounts in turn, each followed by a typical account's
followers (so every post fans out to as many home feeds). "defaults" is what Mastodon.py sends:
without visibility and sensitivity, posts asks users for the author's current defaults first.
One author's posts wait for each other's writes on its account row (its statuses count, and
fan-out against follows changing meanwhile), hence the last row.

Every request carries the reader's token. Each row gives req/s, its share of the hello rows, p50
and p99, and the CPU time per request of each process (the embedded mode is one process), with
PostgreSQL's and RabbitMQ's process trees (a PostgreSQL backend per connection). After the runs the
RSS of every process is read and the goals of the issue are checked; for each goal not met, the
CPU time per request that its rate would allow on this machine's cores is set against what every
process spent. `--profile` (on in `make bench`) runs each row a second time with py-spy beside the
busy processes (`--gil`: their Python CPU) and prints where it went.

    uv run python bench/reads_and_posts.py                          # both modes, 20,000 statuses
    uv run python bench/reads_and_posts.py --sizes 20000,1000000    # the million: local mode only
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from accounts import register
from gateway_overhead import start_uvicorn
from harness import cpu_seconds, load_arguments, prepare, tree_cpu_seconds, wait_idle, write_results
from loadgen import run_wrk
from posts_data import generate, generate_sqlite, typical_account
from profiling import py_spy, top
from sqlalchemy import Engine, create_engine, text

from devstack.proc import rss_kib
from devstack.servers import PostgresServer, RabbitMQServer, free_port, make_base_dir
from devstack.stack import LocalStack
from microblog_common.migrations import upgrade_to_head
from posts.app import SPEC as POSTS

DEEP_OFFSET = 1000
HELLO, HELLO_END = "FastAPI hello", "FastAPI hello (end)"
HELLOS = (HELLO, HELLO_END)
# The gateway's limits, on but out of the way (33 registrations, their sign-ins, the load).
OPEN_LIMITS = {
    "RATE_LIMIT_DEFAULT": "1000000000/minute",
    "RATE_LIMIT_REGISTRATION": "1000/minute",
    "RATE_LIMIT_SIGN_IN": "1000/minute",
}
# Each request a new status, by `tokens` in turn (several people posting at once) or, when the
# list is empty, by the token of the command line's header.
CREATE_LUA = """
counter = 0
tokens = {%s}
request = function()
  counter = counter + 1
  -- wrk.format takes these headers instead of the command line's, not on top of them
  local headers = nil
  if #tokens > 0 then
    headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Authorization"] = "Bearer " .. tokens[counter %% #tokens + 1]
  end
  return wrk.format("POST", nil, headers,
    '{"status": "Benchmark post number ' .. counter .. ' #bench"%s}')
end
"""
# The goals: share of the hello row (and p99) per figure.
GOALS = {
    "account": (0.20, 30.0),
    "home p1": (0.12, 50.0),
    "home deep": (0.12, 50.0),
    "public": (0.10, None),
    "hashtag": (0.10, None),
}
CREATE_GOAL = 400.0  # statuses per second
RSS_GOAL_MB = {"service": 150.0, "embedded": 350.0}
EMBEDDED_SHARE_GOAL = 0.80


@dataclass
class Stack:
    """What a mode gives the benchmark: the gateway's URL, the processes by role, the posts
    database's URL (to adopt a position), and the hello app's URL and pid."""

    gateway_url: str
    pids: dict[str, int]
    posts_db: str
    hello_url: str
    hello_pid: int
    logs: Path
    extra: dict[str, object] = field(default_factory=dict)
    # Servers whose CPU counts too (their process trees), but not towards "idle": PostgreSQL
    # (a process per connection) and RabbitMQ.
    servers: dict[str, int] = field(default_factory=dict)


def wait_for_replica(engine: Engine, accounts: list[int], timeout: float = 60) -> None:
    """Until the posts service's replica knows these accounts (`user.registered` brings them)."""
    ids = ",".join(map(str, accounts))
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            known = conn.execute(text(f"SELECT count(*) FROM accounts WHERE id IN ({ids})")).scalar()
        if known == len(accounts):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"accounts {ids} did not all reach the posts service's replica")
        time.sleep(0.2)


def give_followers(database_url: str, authors: list[int], model: int) -> int:
    """Each of `authors` gets `model`'s followers; how many each has."""
    engine = create_engine(database_url)
    try:
        wait_for_replica(engine, authors)
        followers = 0
        with engine.begin() as conn:
            for author in authors:
                followers = conn.execute(
                    text(
                        "INSERT INTO follows (account_id, target_account_id, active, changed_at) "
                        "SELECT account_id, :a, active, changed_at FROM follows WHERE target_account_id = :m"
                    ),
                    {"a": author, "m": model},
                ).rowcount
                conn.execute(
                    text("UPDATE accounts SET followers_count = :n WHERE id = :a"),
                    {"n": followers, "a": author},
                )
    finally:
        engine.dispose()
    return followers


def adopt_network_position(database_url: str, reader: int, model: int) -> dict[str, int]:
    """The reader follows whom `model` follows, is followed by its followers, and gets its feed
    (either backend)."""
    engine = create_engine(database_url)
    try:
        wait_for_replica(engine, [reader])
        with engine.begin() as conn:
            params = {"r": reader, "m": model}
            following = conn.execute(
                text(
                    "INSERT INTO follows (account_id, target_account_id, active, changed_at) "
                    "SELECT :r, target_account_id, active, changed_at FROM follows WHERE account_id = :m"
                ),
                params,
            ).rowcount
            followers = conn.execute(
                text(
                    "INSERT INTO follows (account_id, target_account_id, active, changed_at) "
                    "SELECT account_id, :r, active, changed_at FROM follows WHERE target_account_id = :m"
                ),
                params,
            ).rowcount
            conn.execute(
                text("UPDATE accounts SET following_count = :fing, followers_count = :fers WHERE id = :r"),
                {"fing": following, "fers": followers, "r": reader},
            )
            feed = conn.execute(
                text(
                    "INSERT INTO home_feed (account_id, status_id, author_id) "
                    "SELECT :r, status_id, author_id FROM home_feed WHERE account_id = :m"
                ),
                params,
            ).rowcount
            # The id 1,000 entries down the reader's home: from the statuses its follows wrote, so
            # it is the same place whether or not the feed keeps that many.
            row = conn.execute(
                text(
                    "SELECT s.id FROM statuses s WHERE s.account_id IN "
                    "(SELECT target_account_id FROM follows WHERE account_id = :r) "
                    "AND s.visibility IN ('public', 'unlisted') ORDER BY s.id DESC LIMIT 1 OFFSET :n"
                ),
                {"r": reader, "n": DEEP_OFFSET},
            ).first()
            if row is None:  # a shorter home: its last full page
                row = conn.execute(
                    text(
                        "SELECT status_id FROM home_feed WHERE account_id = :r "
                        "ORDER BY status_id DESC LIMIT 1 OFFSET :n"
                    ),
                    {"r": reader, "n": max(0, feed - 20)},
                ).first()
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return {"following": following, "followers": followers, "feed": feed, "deep_max_id": row[0] if row else 0}


@contextmanager
def local_stack(base: Path, size: int, args: argparse.Namespace) -> Iterator[Stack]:
    with PostgresServer(base / "postgres") as pg, RabbitMQServer(base / "rabbitmq") as mq:
        url = pg.create_database(f"posts_bench_{size}")
        upgrade_to_head(POSTS.migrations, url)
        raw = url.replace("postgresql+psycopg2://", "postgresql://")
        print(f"generating {size:,} statuses in PostgreSQL ...", flush=True)
        dataset = generate(
            raw, accounts=args.accounts, statuses=size, follows=args.follows, seed=1,
            public_url="http://127.0.0.1",
        )  # fmt: skip
        extra_env = {
            "posts": {"DATABASE_URL": url},
            "gateway": OPEN_LIMITS,
        }
        for service in SERVICES:
            extra_env[service] = {**extra_env.get(service, {}), **args.service_env}
        with LocalStack(base / f"stack-{size}", postgres=pg, rabbitmq=mq, extra_env=extra_env) as stack:
            hello, hello_url = start_uvicorn("hello_apps:fastapi_app", stack.base_dir / "hello.log")
            try:
                pids = {name: pid for name in ("gateway", *SERVICES) if (pid := stack.pid(name))}
                servers = {"postgres": pg.postmaster_pid(), "rabbitmq": mq.server_pid()}
                yield Stack(stack.gateway_url, pids, url, hello_url, hello.pid, stack.base_dir,
                            {"dataset": dataset}, {k: v for k, v in servers.items() if v})  # fmt: skip
            finally:
                hello.terminate()
                hello.wait(timeout=10)


SERVICES = ("users", "posts", "search", "translate", "notify")


@contextmanager
def embedded_stack(base: Path, size: int, args: argparse.Namespace) -> Iterator[Stack]:
    """`python -m devstack run` (what `make run` starts) on a data dir whose posts database was
    generated first."""
    data = base / f"embedded-{size}"
    data.mkdir(parents=True)
    url = f"sqlite:///{data / 'posts.db'}"
    upgrade_to_head(POSTS.migrations, url)
    print(f"generating {size:,} statuses in SQLite ...", flush=True)
    dataset = generate_sqlite(
        url,
        accounts=args.accounts,
        statuses=size,
        follows=args.follows,
        seed=1,
        public_url="http://127.0.0.1",
    )
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "MICROBLOG_DATA_DIR": str(data),
        **OPEN_LIMITS,
        "LOG_LEVEL": "WARNING",
        **args.service_env,
    }
    log_path = base / f"embedded-{size}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run"], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    gateway_url = f"http://127.0.0.1:{port}"
    hello = None
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(gateway_url + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the embedded mode did not start; log {log_path}")
            time.sleep(0.3)
        hello, hello_url = start_uvicorn("hello_apps:fastapi_app", base / "hello-embedded.log")
        yield Stack(gateway_url, {"embedded": process.pid}, url, hello_url, hello.pid, log_path,
                    {"dataset": dataset})  # fmt: skip
    finally:
        if hello is not None:
            hello.terminate()
            hello.wait(timeout=10)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


# The project's packages, for the profile summaries.
OWN_CODE = ("microblog_common/", "gateway/", "users/", "posts/", "search/", "translate/", "notify/", "web/")
# The processes worth a profile per target (`--profile`): the gateway and the service answering;
# posting also keeps the event consumers busy.
PROFILED = {
    "account": ("gateway", "users"),
    "home p1": ("gateway", "posts"),
    "home deep": ("gateway", "posts"),
    "public": ("gateway", "posts"),
    "hashtag": ("gateway", "posts"),
    "create (visibility)": ("gateway", "posts", "search", "users", "notify"),
    "create (defaults)": ("gateway", "posts", "users"),
    "create (one author)": ("gateway", "posts"),
}


def measure(
    name: str, run: Callable[[int, float], object], pids: dict[str, int], args: argparse.Namespace,
    label: str = "", servers: dict[str, int] | None = None,
) -> dict:  # fmt: skip
    """Warm-up, idle, the measured run, idle again; CPU per request per process. With `--profile`,
    then a second run of the same length with py-spy beside the busy processes (so the profiler's
    own CPU stays out of the measured figures)."""
    conns = args.connections
    if args.warmup > 0:
        run(conns, args.warmup)
    wait_idle(list(pids.values()))
    servers = servers or {}
    before = {role: cpu_seconds(pid) for role, pid in pids.items()}
    before |= {role: tree_cpu_seconds(pid) for role, pid in servers.items()}
    result = run(conns, args.duration).as_dict()  # type: ignore[attr-defined]
    wait_idle(list(pids.values()), timeout=120)
    served = result["requests"] + conns
    cpu = {role: round((cpu_seconds(pid) - before[role]) * 1e6 / served) for role, pid in pids.items()}
    for role, pid in servers.items():
        cpu[role] = round((tree_cpu_seconds(pid) - before[role]) * 1e6 / served)
    profiles: dict[str, str] = {}
    roles = [r for r in PROFILED.get(name, ()) if r in pids] or [r for r in pids if r == "embedded"]
    if args.profile and roles:
        with contextlib.ExitStack() as recording:
            for role in roles:
                slug = name.replace(" ", "-").replace("(", "").replace(")", "")
                out = args.out / f"reads-profile-{label}-{slug}-{role}.txt"
                recording.enter_context(py_spy(pids[role], out, args.duration, gil=True))
                profiles[role] = str(out)
            run(conns, args.duration)
        wait_idle(list(pids.values()), timeout=120)
    row = {"target": name, **result, "cpu_us_per_request": cpu, "profiles": profiles}
    print(
        f"  {name:<20} {row['rps']:>8.1f} req/s  p50 {row['p50_ms']:.1f} ms  p99 {row['p99_ms']:.1f} ms  "
        f"errors {row['errors']}  cpu {cpu}",
        flush=True,
    )
    return row


def run_mode(mode: str, base: Path, size: int, args: argparse.Namespace) -> dict:
    opener = local_stack if mode == "local" else embedded_stack
    with opener(base, size, args) as stack:
        reader = register(stack.gateway_url, "reader")
        auth = {"Authorization": f"Bearer {reader.token}"}
        model = typical_account_any(stack.posts_db)
        position = adopt_network_position(stack.posts_db, reader.id, model)
        authors = [register(stack.gateway_url, f"author{i}") for i in range(args.authors)]
        position["author_followers"] = give_followers(stack.posts_db, [a.id for a in authors], model)
        print(f"  {mode}: reader {reader.id}: {position}", flush=True)
        tokens = ", ".join(f'"{a.token}"' for a in authors)
        api = stack.gateway_url + "/api/v1"
        first = httpx.post(
            api + "/statuses", headers=auth, json={"status": "Hello, this is the reader."}, timeout=60
        )
        if first.status_code != 200:
            raise RuntimeError(f"the first post answered {first.status_code}: {first.text[:300]}")
        reads = {
            "account": f"{api}/accounts/{reader.id}",
            "home p1": f"{api}/timelines/home",
            "home deep": f"{api}/timelines/home?max_id={position['deep_max_id']}",
            "public": f"{api}/timelines/public",
            "hashtag": f"{api}/timelines/tag/tag0",
        }
        for name, url in reads.items():
            answer = httpx.get(url, headers=auth, timeout=30)
            if answer.status_code != 200 or (name != "account" and not answer.json()):
                raise RuntimeError(f"{name}: {url} answered {answer.status_code}: {answer.text[:300]}")
        json_auth = {**auth, "Content-Type": "application/json"}
        targets: dict[str, Callable[[int, float], object]] = {
            HELLO: lambda c, d: run_wrk(stack.hello_url + "/hello", {}, c, d),
        }
        for name, url in reads.items():
            targets[name] = lambda c, d, url=url: run_wrk(url, auth, c, d)
        named = ', "visibility": "public", "sensitive": false'
        targets["create (visibility)"] = lambda c, d: run_wrk(
            api + "/statuses", json_auth, c, d, lua=CREATE_LUA % (tokens, named)
        )
        targets["create (defaults)"] = lambda c, d: run_wrk(
            api + "/statuses", json_auth, c, d, lua=CREATE_LUA % (tokens, "")
        )
        targets["create (one author)"] = lambda c, d: run_wrk(
            api + "/statuses", json_auth, c, d, lua=CREATE_LUA % ("", named)
        )
        targets[HELLO_END] = targets[HELLO]
        only = set(args.only.split(",")) if args.only else None
        rows = []
        for name, run in targets.items():
            if only is None or name in only or name in HELLOS:
                if name in HELLOS:
                    row = measure(name, run, {"hello": stack.hello_pid}, args, f"{mode}-{size}")
                else:
                    row = measure(name, run, stack.pids, args, f"{mode}-{size}", stack.servers)
                rows.append({"mode": mode, "statuses": size, **row})
        rss = {role: round(rss_kib(pid) / 1024, 1) for role, pid in stack.pids.items()}
        print(f"  RSS after the runs (MB): {rss}", flush=True)
        return {"mode": mode, "statuses": size, "reader": position, "rss_mb": rss, "rows": rows,
                "dataset": stack.extra["dataset"]}  # fmt: skip


def typical_account_any(database_url: str) -> int:
    if database_url.startswith("postgresql"):
        return typical_account(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    engine = create_engine(database_url)
    with engine.connect() as conn:
        counts = conn.execute(text("SELECT account_id, count(*) FROM follows GROUP BY account_id")).all()
    engine.dispose()
    median = sorted(n for _, n in counts)[len(counts) // 2]
    return min(counts, key=lambda r: (abs(r[1] - median), r[0]))[0]


def hello_rps(rows: list[dict]) -> float:
    """The ceiling of a mode's rows: the mean of its hello runs, first and last (the machine's speed
    drifts over the minutes between them; a virtual machine's neighbours come and go)."""
    rates = [r["rps"] for r in rows if r["target"] in HELLOS]
    return sum(rates) / len(rates) if rates else 0.0


def tables(runs: list[dict]) -> str:
    lines = [
        "| mode | statuses | target | req/s | share of hello | p50 ms | p99 ms | errors | CPU µs/req |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        hello = hello_rps(run["rows"]) or 1
        for r in run["rows"]:
            cpu = ", ".join(f"{k} {v}" for k, v in r["cpu_us_per_request"].items() if v >= 20)
            lines.append(
                f"| {run['mode']} | {run['statuses']:,} | {r['target']} | {r['rps']:.0f} | "
                f"{r['rps'] / hello:.1%} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {cpu} |"
            )
    lines += ["", "| mode | statuses | RSS after the runs (MB) |", "|---|---:|---|"]
    for run in runs:
        lines.append(f"| {run['mode']} | {run['statuses']:,} | " + ", ".join(
            f"{k} {v:.0f}" for k, v in run["rss_mb"].items()) + " |")  # fmt: skip
    return "\n".join(lines)


def goals(runs: list[dict]) -> str:
    """The issue's goals, each met or not, from the rows of every run."""
    out = ["| figure | mode | statuses | measured | goal | met |", "|---|---|---:|---:|---:|---|"]
    local: dict[tuple[int, str], float] = {}
    for run in runs:
        rows = {r["target"]: r for r in run["rows"]}
        hello = hello_rps(run["rows"]) or 1
        for name, (share, p99) in GOALS.items():
            if name not in rows:
                continue
            r = rows[name]
            got = r["rps"] / hello
            if run["mode"] == "local":
                local[(run["statuses"], name)] = got
                met = got >= share and (p99 is None or r["p99_ms"] <= p99)
                goal = f"≥ {share:.0%}" + (f", p99 ≤ {p99:.0f} ms" if p99 else "")
                out.append(f"| {name} | local | {run['statuses']:,} | {got:.1%}, p99 {r['p99_ms']:.0f} ms | "
                           f"{goal} | {'yes' if met else 'no'} |")  # fmt: skip
            elif (run["statuses"], name) in local:
                rel = got / local[(run["statuses"], name)]
                met = rel >= EMBEDDED_SHARE_GOAL
                out.append(f"| {name} | embedded vs local | {run['statuses']:,} | {rel:.0%} | "
                           f"≥ {EMBEDDED_SHARE_GOAL:.0%} | {'yes' if met else 'no'} |")  # fmt: skip
        for name in ("create (visibility)", "create (defaults)", "create (one author)"):
            if name in rows:
                rps = rows[name]["rps"]
                out.append(f"| {name} | {run['mode']} | {run['statuses']:,} | {rps:.0f}/s | "
                           f"≥ {CREATE_GOAL:.0f}/s | {'yes' if rps >= CREATE_GOAL else 'no'} |")  # fmt: skip
        budget = RSS_GOAL_MB["embedded" if run["mode"] == "embedded" else "service"]
        worst = max(run["rss_mb"].items(), key=lambda kv: kv[1])
        out.append(f"| RSS (largest: {worst[0]}) | {run['mode']} | {run['statuses']:,} | {worst[1]:.0f} MB | "
                   f"≤ {budget:.0f} MB | {'yes' if worst[1] <= budget else 'no'} |")  # fmt: skip
    return "\n".join(out)


def cpu_budgets(runs: list[dict], cpus: int) -> str:
    """For each goal not met, why, in CPU time: what one request may cost, all processes together
    (the services, the gateway, PostgreSQL, RabbitMQ), for the goal's rate to fit on this
    machine's cores, against what it cost in the run. A share of the hello row is a rate; a rate
    is a CPU budget per request."""
    out: list[str] = []
    local: dict[tuple[int, str], tuple[int, float]] = {}  # CPU per request, req/s
    for run in runs:
        rows = {r["target"]: r for r in run["rows"]}
        hello = hello_rps(run["rows"])
        for name, r in rows.items():
            if name in HELLOS:
                continue
            cpu = r["cpu_us_per_request"]
            total = sum(cpu.values())
            parts = ", ".join(f"{k} {v:,}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v >= 50)
            if run["mode"] == "local":
                local[(run["statuses"], name)] = (total, r["rps"])
                if name in GOALS and hello:
                    goal_rps = GOALS[name][0] * hello
                elif name.startswith("create"):
                    goal_rps = CREATE_GOAL
                else:
                    continue
                if r["rps"] >= goal_rps:
                    continue
                budget = cpus * 1e6 / goal_rps
                biggest, biggest_cpu = max(cpu.items(), key=lambda kv: kv[1])
                gateway = cpu.get("gateway", 0) / budget
                out.append(
                    f"- {name} ({run['statuses']:,}): {goal_rps:,.0f} req/s on {cpus} cores leaves "
                    f"{budget:,.0f} µs of CPU per request for every process together; it cost {total:,} µs "
                    f"({parts}). {biggest} alone needs {biggest_cpu / budget:.1f} times the whole budget"
                    + (f"; the gateway {gateway:.1f} times" if biggest != "gateway" else "")
                    + "."
                )
            elif (run["statuses"], name) in local and name in GOALS:
                local_total, local_rps = local[(run["statuses"], name)]
                if local_rps and r["rps"] >= EMBEDDED_SHARE_GOAL * local_rps:
                    continue
                busy, local_busy = r["rps"] * total / 1e6, local_rps * local_total / 1e6
                out.append(
                    f"- {name} ({run['statuses']:,}), embedded: {total:,} µs of CPU per request in its one "
                    f"process, {total / local_total:.2f} times what the local processes spent together "
                    f"({local_total:,} µs, PostgreSQL's included); and it kept {busy:.2f} of the {cpus} "
                    f"cores busy, where the local processes kept {local_busy:.2f} (one interpreter: its "
                    f"Python runs one thread at a time)."
                )
    return "\n".join(out)


def profile_summaries(runs: list[dict]) -> str:
    """Where each profiled process spent its Python CPU (`--profile`), by the project's functions
    and by innermost frame; the raw profiles stay in the results directory."""
    out: list[str] = []
    for run in runs:
        for row in run["rows"]:
            for role, path in row.get("profiles", {}).items():
                if not Path(path).exists():
                    continue
                own = [f"    {share:6.1%}  {frame}" for frame, share in top(Path(path), 12, only=OWN_CODE)]
                leaves = [f"    {share:6.1%}  {frame}" for frame, share in top(Path(path), 12, leaf=True)]
                title = f"Profile: {run['mode']}, {row['target']}, {role} (samples holding the GIL; {path})"
                out += ["", title, "  the project's functions (inclusive):", *own]
                out += ["  innermost frames:", *leaves]
    return "\n".join(out)


def main() -> int:
    parser = load_arguments(__doc__, connections="32")
    parser.add_argument("--sizes", default="20000", help="comma-separated status counts (1000000: opt-in)")
    parser.add_argument("--modes", default="local,embedded", help="local (PostgreSQL), embedded, or both")
    parser.add_argument(
        "--embedded-sizes", default="20000",
        help="the sizes the embedded mode runs at too (a million statuses into SQLite take long to generate)",
    )  # fmt: skip
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--follows", type=int, default=20)
    parser.add_argument("--authors", type=int, default=32, help="accounts posting at once in the create rows")
    parser.add_argument("--only", default="", help="comma-separated targets to run (default: all)")
    parser.add_argument(
        "--profile", action="store_true",
        help="after each run, a second one with py-spy beside the busy processes (raw profiles in --out)",
    )  # fmt: skip
    parser.add_argument(
        "--service-env", action="append", default=[], metavar="NAME=VALUE",
        help="a setting for every service (and the embedded process), to compare; repeatable",
    )  # fmt: skip
    args = parser.parse_args()
    args.service_env = dict(pair.split("=", 1) for pair in args.service_env)
    prepared = prepare(args)
    args.connections = int(args.connections.split(",")[0])
    if prepared is None:
        return 1
    tool, _, info = prepared
    if tool != "wrk":
        print("this benchmark needs wrk (make bench-tools)", file=sys.stderr)
        return 1
    runs: list[dict] = []
    base = make_base_dir("microblog-bench-reads-")
    ok = False
    try:
        embedded_sizes = {int(s) for s in args.embedded_sizes.split(",")}
        for size in [int(s) for s in args.sizes.split(",")]:
            for mode in args.modes.split(","):
                if mode != "embedded" or size in embedded_sizes:
                    runs.append(run_mode(mode, base, size, args))
        ok = True
    finally:
        shutil.rmtree(base / "postgres" / "db", ignore_errors=True)
        if ok:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"failed: the logs are in {base}", file=sys.stderr)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    table, met = tables(runs), goals(runs)
    why = cpu_budgets(runs, info["cpus"] or 1)
    profiled = profile_summaries(runs)
    markdown = (
        f"# Reads and posting {stamp}\n\n{info['cpus']} CPUs ({info['cpu_model']}), load average before "
        f"{info['load_average_before']}, wrk -c{args.connections}, {args.duration:g}s per run after "
        f"{args.warmup:g}s warm-up, through the gateway; {args.accounts} accounts following {args.follows} "
        f"each.\n\n{table}\n\n{met}\n\nWhy, in CPU time per request:\n\n{why}\n\n{profiled}"
    )
    result = {"when": stamp, "machine": info, "runs": runs,
              "parameters": {"duration_s": args.duration, "warmup_s": args.warmup,
                             "connections": args.connections}}  # fmt: skip
    written = write_results(args.out, "reads", stamp, result, markdown)
    print()
    print(table)
    print()
    print(met)
    print("\nWhy, in CPU time per request:")
    print(why)
    print(profiled)
    print(f"\nwritten: {written} and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
