"""The notify service's live streams and email throughput, on one notify process of a LocalStack
(real PostgreSQL and RabbitMQ):

- follow-to-stream and post-to-stream latency (p50/p99) with `--streams` (5,000) Server-Sent Event
  streams open on that one process: a `user.followed` event published to the broker until the
  followee's stream has the `notification`; a `post.published` until every follower's stream has
  the `update` (one post reaches every open stream);
- the process's memory per open stream (RSS before and after opening them);
- email throughput to an SMTP server (aiosmtpd in this process): welcome emails queued by
  `user.registered` events until the last one arrived.

The events are published to the broker as the users and posts services would (their shared
contracts), so the numbers are notify's own path: broker, its live and durable queues, fan-out,
the socket. The streams are opened straight at the service, signed as the gateway signs. The
FastAPI hello row of the same run (1 connection) is the reference the latencies are read against.

    uv run python bench/notify_streams.py                 # 5,000 streams, 10 posts, 200 follows, 500 emails
    uv run python bench/notify_streams.py --streams 1000 --posts 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from gateway_overhead import start_uvicorn
from harness import Target, measure, prepare, write_results
from sqlalchemy import create_engine, text

from devstack.mail import SmtpSink
from devstack.stack import LocalStack
from microblog_common.contracts.users import follow_subject
from microblog_common.events import Event
from microblog_common.events.rabbitmq import RabbitBus
from microblog_common.ids import new_id
from microblog_common.internal_auth import (
    HEADER_CLIENT_IP,
    HEADER_SCOPES,
    HEADER_TOKEN_ID,
    HEADER_USER_ID,
    sign_request,
)

BENCH_DIR = Path(__file__).resolve().parent
PUBLIC = "http://bench.example"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def account_event(account_id: int, email: str | None = None) -> Event:
    name = f"b{account_id}"
    now = datetime.now(UTC).isoformat()
    data = {
        "id": str(account_id), "username": name, "acct": name, "display_name": name, "note": "",
        "note_text": "",
        "url": f"{PUBLIC}/@{name}", "avatar": f"{PUBLIC}/a.png", "avatar_static": f"{PUBLIC}/a.png",
        "header": f"{PUBLIC}/h.png", "locked": False, "bot": False, "discoverable": True, "indexable": True,
        "hide_collections": False, "fields": [], "created_at": now, "updated_at": now, "version": 1,
        # No address for the stream accounts: no welcome email to slow the set-up down.
        "email": email or "", "locale": "en",
    }  # fmt: skip
    return Event(type="user.registered", producer="bench", subject=str(account_id), version=1, data=data)


def follow_event(follower: int, followee: int) -> Event:
    data = {"follower_id": str(follower), "followee_id": str(followee), "at": datetime.now(UTC).isoformat(),
            "notify": False, "reblogs": True, "languages": None}  # fmt: skip
    return Event(
        type="user.followed", producer="bench", subject=follow_subject(follower, followee), data=data
    )


def post_event(author: int, status_id: int) -> Event:
    data = {
        "id": str(status_id), "account_id": str(author), "acct": f"b{author}",
        "url": f"{PUBLIC}/s/{status_id}",
        "uri": f"{PUBLIC}/s/{status_id}", "text": "bench", "html": "<p>bench</p>", "spoiler_text": "",
        "sensitive": False, "visibility": "public", "language": "en", "in_reply_to_id": None,
        "in_reply_to_account_id": None, "mentions": [], "tags": [],
        "created_at": datetime.now(UTC).isoformat(),
        "edited_at": None, "version": 1,
    }  # fmt: skip
    return Event(type="post.published", producer="bench", subject=str(status_id), version=1, data=data)


async def publish_all(bus: RabbitBus, events: list[Event], batch: int = 500) -> None:
    for i in range(0, len(events), batch):
        await bus.publish(events[i : i + batch])


def wait_rows(db_url: str, query: str, count: int, timeout: float = 1800) -> None:
    engine = create_engine(db_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                found = conn.execute(text(query)).scalar_one()
            if found >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{query}: {found} of {count}")
            time.sleep(0.5)
    finally:
        engine.dispose()


class Streams:
    """N SSE streams on one process, each read by a task of this process; arrival times by key."""

    def __init__(self, base: str, secret: str):
        self.base = base
        self.secret = secret
        self.arrivals: dict[tuple[str, str], dict[int, float]] = {}
        self.opened = 0
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self, account_ids: list[int]) -> None:
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))
        for i, account_id in enumerate(account_ids):
            self.tasks.append(asyncio.create_task(self._read(account_id)))
            if i % 200 == 199:
                await asyncio.sleep(0.2)  # don't open them all in one burst
        while self.opened < len(account_ids):
            await asyncio.sleep(0.2)

    async def _read(self, account_id: int) -> None:
        path = "/api/v1/streaming/user"
        identity = {HEADER_USER_ID: str(account_id), HEADER_SCOPES: "read",
                    HEADER_TOKEN_ID: f"bench-{account_id}",
                    HEADER_CLIENT_IP: "127.0.0.1"}  # fmt: skip
        assert self.session is not None
        # Signatures are checked for age at the handshake only: one per stream.
        async with self.session.get(
            self.base + path, headers=sign_request(self.secret, "GET", path, identity)
        ) as r:
            assert r.status == 200, await r.text()
            event = ""
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line == ":)":
                    self.opened += 1
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    now = time.perf_counter()
                    body = json.loads(line[6:])
                    key = (
                        event,
                        str(body.get("status", {}).get("id") if event == "notification" else body.get("id")),
                    )
                    if event == "notification":
                        key = ("notification", body["account"]["id"])
                    self.arrivals.setdefault(key, {})[account_id] = now

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()


async def run(stack: LocalStack, sink: SmtpSink, args: argparse.Namespace) -> dict:
    notify_pid = stack.pid("notify")
    assert notify_pid and stack.rabbitmq_url
    db = stack.database_urls["notify"]
    bus = RabbitBus(stack.rabbitmq_url, connection_name="bench")
    await bus.start()
    try:
        author = new_id()
        viewers = [new_id() for _ in range(args.streams)]
        fans = [new_id() for _ in range(args.follows)]
        print(f"registering {len(viewers) + len(fans) + 1} accounts ...", flush=True)
        await publish_all(bus, [account_event(a) for a in [author, *viewers, *fans]])
        await asyncio.to_thread(wait_rows, db, "SELECT count(*) FROM accounts", len(viewers) + len(fans) + 1)
        await publish_all(bus, [follow_event(v, author) for v in viewers])
        await asyncio.to_thread(wait_rows, db, "SELECT count(*) FROM follows", len(viewers))
        sink.messages.clear()

        rss_before = rss_kib(notify_pid)
        streams = Streams(stack.service_urls["notify"], stack.internal_secret)
        started = time.monotonic()
        await streams.open(viewers)
        print(f"{args.streams} streams open in {time.monotonic() - started:.1f}s", flush=True)
        await asyncio.sleep(3)
        rss_after = rss_kib(notify_pid)

        post_latencies: list[float] = []
        post_missing = 0
        for _ in range(args.posts):
            status_id = new_id()
            sent = time.perf_counter()
            await bus.publish([post_event(author, status_id)])
            deadline = time.monotonic() + 30
            key = ("update", str(status_id))
            while len(streams.arrivals.get(key, {})) < len(viewers) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            got = streams.arrivals.get(key, {})
            post_missing += len(viewers) - len(got)
            post_latencies += [(t - sent) * 1000 for t in got.values()]
            await asyncio.sleep(1)

        follow_latencies: list[float] = []
        sent_at: dict[int, float] = {}
        for fan, viewer in zip(fans, viewers, strict=False):
            sent_at[viewer] = time.perf_counter()
            await bus.publish([follow_event(fan, viewer)])
            await asyncio.sleep(args.follow_spacing)
        await asyncio.sleep(5)
        for fan, viewer in zip(fans, viewers, strict=False):
            arrived = streams.arrivals.get(("notification", str(fan)), {}).get(viewer)
            if arrived is not None:
                follow_latencies.append((arrived - sent_at[viewer]) * 1000)
        rss_end = rss_kib(notify_pid)
        await streams.close()

        print(f"email: {args.emails} welcome emails ...", flush=True)
        sink.messages.clear()
        started = time.monotonic()
        await publish_all(
            bus, [account_event(new_id(), f"mail{i}@bench.example") for i in range(args.emails)]
        )
        await asyncio.to_thread(sink.wait, None, args.emails, 300)
        email_seconds = time.monotonic() - started
        emails = len(sink.received())
    finally:
        await bus.close()
    return {
        "streams": args.streams,
        "post_to_stream_ms": {"p50": percentile(post_latencies, 0.5), "p99": percentile(post_latencies, 0.99),
                              "deliveries": len(post_latencies), "missing": post_missing},
        "follow_to_stream_ms": {"p50": percentile(follow_latencies, 0.5),
                                "p99": percentile(follow_latencies, 0.99),
                                "deliveries": len(follow_latencies), "sent": len(fans)},
        "rss_kib": {"before": rss_before, "streams_open": rss_after, "end": rss_end},
        "kib_per_stream": round((rss_after - rss_before) / max(1, args.streams), 1),
        "emails": {"count": emails, "seconds": round(email_seconds, 2),
                   "per_second": round(emails / email_seconds, 1) if email_seconds else None},
        "mean_post_ms": statistics.fmean(post_latencies) if post_latencies else None,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--posts", type=int, default=10)
    parser.add_argument("--follows", type=int, default=200)
    parser.add_argument("--follow-spacing", type=float, default=0.02, help="seconds between follow events")
    parser.add_argument("--emails", type=int, default=500)
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--connections", default="1")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args()
    prepared = prepare(args)
    if prepared is None:
        return 1
    tool, _, info = prepared
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.streams * 2 + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # inherited by the stack's processes
    with SmtpSink() as sink:
        notify_env = {
            "SMTP_URL": f"{sink.url}?starttls=false",
            "MAIL_FROM": "Bench <bench@bench.example>",
            "STREAM_QUEUE_SIZE": "1000",
            "EMAIL_BATCH_SIZE": "50",
            "LOG_LEVEL": "WARNING",
        }
        with LocalStack(extra_env={"notify": notify_env}) as stack:
            fast, fast_url = start_uvicorn("hello_apps:fastapi_app", stack.base_dir / "hello-fastapi.log")
            try:
                hello = measure(
                    Target("FastAPI hello", fast_url + "/hello", dict, {"app": fast.pid}), tool, 1, 5, 1
                )
            finally:
                fast.terminate()
                fast.wait(timeout=10)
            result = asyncio.run(run(stack, sink, args))
    result["fastapi_hello_1_connection_ms"] = {"p50": hello["p50_ms"], "p99": hello["p99_ms"]}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    post, follow = result["post_to_stream_ms"], result["follow_to_stream_ms"]
    markdown = (
        f"# Notify streams benchmark {stamp}\n\n{info['cpus']} CPUs ({info['cpu_model']}), "
        "one notify process, "
        f"{args.streams} SSE streams open (the readers share the machine).\n\n"
        "| measure | p50 | p99 | count |\n|---|---:|---:|---:|\n"
        f"| post-to-stream (ms) | {post['p50']:.1f} | {post['p99']:.1f} | {post['deliveries']} "
        f"({post['missing']} missing) |\n"
        f"| follow-to-stream (ms) | {follow['p50']:.1f} | {follow['p99']:.1f} "
        f"| {follow['deliveries']}/{follow['sent']} |\n"
        f"| FastAPI hello, 1 connection (ms) | {hello['p50_ms']:.2f} | {hello['p99_ms']:.2f} | |\n\n"
        f"Memory: {result['rss_kib']['before'] / 1024:.0f} MiB before the streams, "
        f"{result['rss_kib']['streams_open'] / 1024:.0f} MiB with them open: "
        f"{result['kib_per_stream']} KiB per stream.\n\n"
        f"Email: {result['emails']['count']} messages to the SMTP server in {result['emails']['seconds']} s "
        f"({result['emails']['per_second']}/s).\n"
    )  # fmt: skip
    parameters = vars(args) | {"out": str(args.out)}
    record = {"machine": info, "parameters": parameters, "result": result}
    written = write_results(args.out, "notify", stamp, record, markdown)
    print(markdown)
    print(f"results: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
