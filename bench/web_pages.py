"""The web UI's home page through the gateway, beside the home timeline API call it is made from,
in one run over a LocalStack (real PostgreSQL and RabbitMQ, every service its own uvicorn process):

- `home page (web)`: `GET /home` as a signed-in browser (session cookie, `Accept: text/html`): the
  gateway -> the web service, which asks the gateway for the timeline (and the unread count, in
  parallel) and renders 20 statuses server-side;
- `home timeline (API)`: `GET /api/v1/timelines/home` with the reader's token: what the page's
  main call costs alone;
- `FastAPI hello`: the bare FastAPI hello-world on the same uvicorn, the reference each row is
  reported as a share of (bench/README.md).

The reader follows two accounts that posted 40 statuses between them, so both first pages are full.

    uv run python bench/web_pages.py                       # 32 connections, 10 s per run
    uv run python bench/web_pages.py --connections 1,32 --duration 20"""

from __future__ import annotations

import re
import sys
import time

import httpx
from accounts import register
from gateway_overhead import start_uvicorn
from harness import Target, check, load_arguments, markdown_table, measure, prepare, print_row, write_results

from devstack.stack import LocalStack

FEED_SIZE = 40


def web_session(gateway_url: str, username: str, email: str, password: str) -> str:
    """A signed-in browser's session cookie, through the web UI's own sign-in (the consent page)."""
    with httpx.Client(
        base_url=gateway_url, headers={"Accept": "text/html", "Origin": gateway_url}, timeout=30
    ) as browser:
        start = browser.get("/auth/sign_in?next=/home")
        consent = browser.get(start.headers["location"])
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text))
        fields = {key: value.replace("&amp;", "&") for key, value in fields.items()}
        granted = browser.post(
            "/oauth/authorize",
            data={**fields, "username": username, "password": password, "decision": "approve"},
        )
        back = browser.get(granted.headers["location"])
        if back.status_code != 303:
            raise RuntimeError(f"signing in through the web UI failed: {back.status_code} {back.text[:300]}")
        cookie = browser.cookies.get("microblog_session")
        assert cookie, "no session cookie"
        return cookie


def fill_feed(gateway_url: str, reader_token: str) -> None:
    for author in (register(gateway_url, "author"), register(gateway_url, "author")):
        headers = {"Authorization": f"Bearer {reader_token}"}
        httpx.post(
            f"{gateway_url}/api/v1/accounts/{author.id}/follow", headers=headers, timeout=30
        ).raise_for_status()
        for number in range(FEED_SIZE // 2):
            httpx.post(
                f"{gateway_url}/api/v1/statuses",
                headers={"Authorization": f"Bearer {author.token}"},
                data={
                    "status": f"Post {number} by {author.username}, a #tag and a https://example.com/ link"
                },
                timeout=30,
            ).raise_for_status()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the home feed is filled as the posts' events arrive
        feed = httpx.get(
            f"{gateway_url}/api/v1/timelines/home?limit=40",
            headers={"Authorization": f"Bearer {reader_token}"},
        )
        if len(feed.json()) >= FEED_SIZE:
            return
        time.sleep(0.2)
    raise RuntimeError("the reader's home feed did not fill")


def main() -> int:
    parser = load_arguments(__doc__, connections="32")
    args = parser.parse_args()
    prepared = prepare(args)
    if prepared is None:
        return 1
    tool, connections, info = prepared
    unlimited = "1000000000/minute"
    extra_env = {
        # Rate limits stay on (counting is part of the cost) but can't trip.
        "gateway": {
            "RATE_LIMIT_DEFAULT": unlimited,
            "RATE_LIMIT_PAGES": unlimited,
            "RATE_LIMIT_SIGN_IN": unlimited,
            "RATE_LIMIT_REGISTRATION": unlimited,
        }
    }
    started = time.monotonic()
    with LocalStack(extra_env=extra_env) as stack:
        print(f"stack ready in {time.monotonic() - started:.1f}s (logs in {stack.base_dir})")
        reader = register(stack.gateway_url, "reader")
        fill_feed(stack.gateway_url, reader.token)
        cookie = web_session(stack.gateway_url, reader.username, reader.email, reader.password)
        fast, fast_url = start_uvicorn("hello_apps:fastapi_app", stack.base_dir / "hello-fastapi.log")
        try:
            pids = {name: stack.pid(name) for name in ("gateway", "web", "posts", "notify")}
            assert all(pids.values())
            page_headers = {"Cookie": f"microblog_session={cookie}", "Accept": "text/html"}
            api_headers = {"Authorization": f"Bearer {reader.token}"}
            targets = [
                Target("home page (web)", stack.gateway_url + "/home", lambda: page_headers,
                       {name: pid for name, pid in pids.items() if pid}),
                Target("home timeline (API)", stack.gateway_url + "/api/v1/timelines/home",
                       lambda: api_headers, {"gateway": pids["gateway"], "posts": pids["posts"]}),
                Target("FastAPI hello", fast_url + "/hello", dict, {"app": fast.pid}),
            ]  # fmt: skip
            for target in targets:
                print(f"  {target.name:<22} GET {target.url} -> {check(target)!r}")
            rows = []
            for conns in connections:
                for target in targets:
                    row = measure(target, tool, conns, args.duration, args.warmup)
                    rows.append(row)
                    print_row(row, width=22)
        finally:
            fast.terminate()
            fast.wait(timeout=10)

    hello = {r["connections"]: r for r in rows if r["target"] == "FastAPI hello"}
    summary = []
    for row in rows:
        base = hello.get(row["connections"])
        if base and base["rps"] and row["target"] != "FastAPI hello":
            summary.append(
                f"- {row['target']}, {row['connections']} connections: {row['rps']:.0f} req/s "
                f"({row['rps'] / base['rps']:.0%} of FastAPI hello), "
                f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms"
            )
    table = markdown_table(rows)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    params = {"duration_s": args.duration, "warmup_s": args.warmup, "feed_size": FEED_SIZE}
    result = {"when": stamp, "machine": info, "parameters": params, "rows": rows, "summary": summary}
    markdown = (
        f"# Web pages benchmark {stamp}\n\n"
        f"{info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, load tool {tool}, "
        f"{args.duration:g}s per run after {args.warmup:g}s warm-up; a signed-in reader's `/home` "
        f"(20 statuses rendered) beside `GET /api/v1/timelines/home`, both through the gateway.\n\n"
        f"{table}\n\n" + "\n".join(summary) + "\n"
    )
    written = write_results(args.out, "web", stamp, result, markdown)
    print()
    print(table)
    print()
    print("\n".join(summary))
    print(f"\nwritten: {written} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
