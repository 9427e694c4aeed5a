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
the socket. The streams are opened straight at the service, signed as the gateway signs, and read
as raw bytes parsed after the measurement (`sse_readers.py`), so the readers' own work stays out
of the latencies. The FastAPI hello row of the same run (1 connection) is the reference the
latencies are read against.

    uv run python bench/notify_streams.py                 # 5,000 streams, 10 posts, 200 follows, 500 emails
    uv run python bench/notify_streams.py --streams 1000 --posts 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from gateway_overhead import start_uvicorn
from harness import Target, cpu_seconds, measure, prepare, write_results
from profiling import py_spy, top
from sqlalchemy import create_engine, text
from sse_readers import SseStream, json_of, open_stream

from devstack.mail import SmtpSink
from devstack.proc import rss_kib
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
    """N SSE streams on one process (`sse_readers`): arrival times by (event, key) once parsed."""

    def __init__(self, base: str, secret: str):
        self.base = base
        self.secret = secret
        self.streams: list[SseStream] = []

    async def open(self, account_ids: list[int]) -> None:
        path = "/api/v1/streaming/user"
        for i, account_id in enumerate(account_ids):
            identity = {HEADER_USER_ID: str(account_id), HEADER_SCOPES: "read",
                        HEADER_TOKEN_ID: f"bench-{account_id}",
                        HEADER_CLIENT_IP: "127.0.0.1"}  # fmt: skip
            # Signatures are checked for age at the handshake only: one per stream.
            headers = sign_request(self.secret, "GET", path, identity)
            stream = await open_stream(self.base + path, headers, account_id)
            if not stream.status_line().startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"stream {account_id}: {b''.join(stream.chunks)[:500]!r}")
            self.streams.append(stream)
            if i % 200 == 199:
                await asyncio.sleep(0.2)  # don't open them all in one burst

    def events_ended(self) -> int:
        return sum(s.ended for s in self.streams)

    async def wait_for(self, total: int, timeout: float) -> None:
        """Until the streams have `total` events between them, or `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.events_ended() < total and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def arrivals(self) -> dict[tuple[str, str], dict[int, float]]:
        """(event, status id; or "notification", the notifying account's id) -> stream -> time."""
        found: dict[tuple[str, str], dict[int, float]] = {}
        for stream in self.streams:
            for arrival in stream.events():
                body = json_of(arrival)
                if arrival.event == "notification":
                    key = ("notification", str(body["account"]["id"]))
                else:
                    key = (arrival.event, str(body.get("id")))
                found.setdefault(key, {}).setdefault(stream.key, arrival.at)
        return found

    async def close(self) -> None:
        for stream in self.streams:
            stream.close()


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

        # Nothing is parsed while events are timed: each post waits until every stream has one
        # more event (or 30 s), the follows until theirs came; then the arrivals are read.
        post_sent: dict[str, float] = {}
        cpu_before = (cpu_seconds(notify_pid), time.process_time())
        profile = BENCH_DIR / "results" / f"notify-profile-{args.streams}.txt"
        with py_spy(notify_pid, profile, args.posts * 2) if args.profile else contextlib.nullcontext():
            for _ in range(args.posts):
                status_id = new_id()
                expected = streams.events_ended() + len(viewers)
                post_sent[str(status_id)] = time.perf_counter()
                await bus.publish([post_event(author, status_id)])
                await streams.wait_for(expected, 30)
                await asyncio.sleep(1)
        # CPU per delivery while the posts went out (the 1 s pauses between them are idle).
        notify_cpu = cpu_seconds(notify_pid) - cpu_before[0]
        reader_cpu = time.process_time() - cpu_before[1]
        deliveries = max(1, args.posts * len(viewers))
        post_cpu_us = {"notify": round(notify_cpu / deliveries * 1e6, 1),
                       "readers": round(reader_cpu / deliveries * 1e6, 1)}  # fmt: skip
        print(f"CPU per delivery (µs): {post_cpu_us}", flush=True)
        if args.profile and profile.exists():
            lines = [f"    {share:6.1%}  {frame}" for frame, share in top(profile, 40)]
            print(f"profile of the posts {profile}:", *lines, sep="\n", flush=True)

        follow_sent: dict[int, float] = {}
        expected = streams.events_ended() + len(fans)
        follow_profile = BENCH_DIR / "results" / f"notify-profile-{args.streams}-follows.txt"
        follow_seconds = len(fans) * args.follow_spacing + 2
        with py_spy(notify_pid, follow_profile, follow_seconds) if args.profile else contextlib.nullcontext():
            for fan, viewer in zip(fans, viewers, strict=False):
                follow_sent[viewer] = time.perf_counter()
                await bus.publish([follow_event(fan, viewer)])
                await asyncio.sleep(args.follow_spacing)
            await streams.wait_for(expected, 30)
        if args.profile and follow_profile.exists():
            lines = [f"    {share:6.1%}  {frame}" for frame, share in top(follow_profile, 60)]
            print(f"profile of the follows {follow_profile}:", *lines, sep="\n", flush=True)
        arrivals = streams.arrivals()
        post_latencies: list[float] = []
        per_post: list[dict[str, float]] = []  # first, median and last arrival of each post
        post_missing = 0
        for status_id, sent in post_sent.items():
            got = arrivals.get(("update", status_id), {})
            post_missing += len(viewers) - len(got)
            these = sorted((t - sent) * 1000 for t in got.values())
            post_latencies += these
            if these:
                per_post.append({"first": round(these[0], 1), "p50": round(percentile(these, 0.5), 1),
                                 "last": round(these[-1], 1)})  # fmt: skip
        print(f"each post (ms): {per_post}", flush=True)
        follow_latencies: list[float] = []
        for fan, viewer in zip(fans, viewers, strict=False):
            arrived = arrivals.get(("notification", str(fan)), {}).get(viewer)
            if arrived is not None:
                follow_latencies.append((arrived - follow_sent[viewer]) * 1000)
        rss_end = rss_kib(notify_pid)
        # The notify process logs each garbage collection that stopped it 50 ms or more.
        pauses = [json.loads(line) for line in stack.log_path("notify").read_text().splitlines()
                  if '"gc_pause"' in line]  # fmt: skip
        gc_ms = sorted(float(p["ms"]) for p in pauses)
        print(f"collections of 50 ms or more in notify: {len(gc_ms)}, longest {gc_ms[-1:]} ms", flush=True)
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
        "post_cpu_us_per_delivery": post_cpu_us,
        "per_post_ms": per_post,
        "gc_pauses_ms": gc_ms,
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
    parser.add_argument("--profile", action="store_true", help="py-spy notify while the posts go out")
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
            # As deployed (the local stack runs with ENVIRONMENT=test, which leaves it off).
            "GC_SETTLE_AFTER_STARTUP": "true",
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
    cpu = result["post_cpu_us_per_delivery"]
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
        f"CPU per delivery while the posts went out: notify {cpu['notify']} µs, "
        f"the readers {cpu['readers']} µs.\n\n"
        "Each post's first / median / last arrival (ms): "
        + ", ".join(f"{p['first']:.0f} / {p['p50']:.0f} / {p['last']:.0f}" for p in result["per_post_ms"])
        + ".\n\n"
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
