"""What signing in and carrying a token cost: one trivial routed endpoint through the gateway
without a token and with `Authorization: Bearer <token>` (the gateway then verifies the EdDSA
signature, issuer, audience and expiry and looks the token up in the revocation list on every
request), and sign-in throughput (`POST /oauth/token`, password grant: one Argon2id verification
at the production cost per request), side by side at a few connection counts, over a LocalStack
(real PostgreSQL and RabbitMQ, one uvicorn per process).

The account is registered through the API (`POST /api/v1/apps`, an app token, `POST
/api/v1/accounts`) and its token comes from the password grant. The gateway's rate limits stay on
with limits too high to trip.

    uv run python bench/auth_tokens.py                    # defaults: --connections 1,32 --duration 10
    uv run python bench/auth_tokens.py --connections 1,8 --duration 5

Results are printed and written to bench/results/ (auth-<timestamp>.json and .md, auth-latest.md)."""

from __future__ import annotations

import re
import shutil
import sys
import time
from urllib.parse import urlencode

import httpx
import psycopg2
from accounts import BenchAccount, register, sign_in
from harness import (
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

from devstack.servers import make_base_dir
from devstack.stack import LocalStack
from users.settings import Settings as UsersSettings

NO_LIMIT = "1000000000/minute"
ARGON2_FIELDS = ("argon2_time_cost", "argon2_memory_cost_kib", "argon2_parallelism")
NO_TOKEN, WITH_TOKEN, SIGN_IN = "no token", "bearer token", "sign-in (password grant)"


def argon2_production_env() -> dict[str, str]:
    """The users service's Argon2 defaults, set explicitly: an ARGON2_* variable in the caller's
    environment must not make the benchmark hash cheaper than production does."""
    return {name.upper(): str(UsersSettings.model_fields[name].default) for name in ARGON2_FIELDS}


def stored_hash_parameters(database_url: str, account_id: int) -> dict[str, int]:
    """m (KiB), t and p of the account's stored Argon2 hash: what the service really uses."""
    url = re.sub(r"^postgresql\+\w+://", "postgresql://", database_url)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT password_hash FROM users WHERE account_id = %s", (account_id,))
        row = cur.fetchone()
    if row is None:
        raise RuntimeError(f"no users row for account {account_id}")
    found = re.search(r"^\$(argon2\w+)\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$", row[0])
    if found is None:
        raise RuntimeError(f"not an Argon2 hash: {row[0][:20]}...")
    return {"type": found[1], "m_kib": int(found[2]), "t": int(found[3]), "p": int(found[4])}


def check_revocation(gateway_url: str, account: BenchAccount, path: str, timeout: float = 15.0) -> float:
    """Sign in once more, revoke that token, and wait for the gateway to refuse it: proves the
    revocation list is consulted (and puts one entry in it). Seconds until refused."""
    token = sign_in(gateway_url, account)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    if httpx.get(gateway_url + path, headers=headers, timeout=5).status_code == 401:
        raise RuntimeError("a fresh token was refused")
    revoked = httpx.post(
        gateway_url + "/oauth/revoke",
        data={"token": token, "client_id": account.client_id, "client_secret": account.client_secret},
        timeout=10,
    )
    if revoked.status_code != 200:
        raise RuntimeError(f"/oauth/revoke answered {revoked.status_code}: {revoked.text[:300]}")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if httpx.get(gateway_url + path, headers=headers, timeout=5).status_code == 401:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"the gateway still accepted a revoked token after {timeout:.0f}s")


def summary_lines(rows: list[dict]) -> list[str]:
    out = []
    for conns in sorted({r["connections"] for r in rows}):
        plain, bearer, login = (
            next((r for r in rows if r["target"] == name and r["connections"] == conns), None)
            for name in (NO_TOKEN, WITH_TOKEN, SIGN_IN)
        )
        if plain and bearer and plain["rps"]:
            extra = bearer["cpu_us_per_request"]["gateway"] - plain["cpu_us_per_request"]["gateway"]
            out.append(
                f"- {conns} connection(s): a token adds {bearer['p50_ms'] - plain['p50_ms']:+.2f} ms at p50, "
                f"{bearer['p99_ms'] - plain['p99_ms']:+.2f} ms at p99; throughput "
                f"{bearer['rps'] / plain['rps']:.0%} of tokenless; gateway CPU {extra:+.0f} µs per request"
            )
        if login and not login["requests"]:
            out.append(f"- {conns} connection(s): no sign-in was answered within the run (stuck?)")
        elif login:
            out.append(
                f"- {conns} connection(s): sign-in {login['rps']:.1f} req/s, p50 {login['p50_ms']:.0f} ms, "
                f"p99 {login['p99_ms']:.0f} ms; "
                f"users CPU {login['cpu_us_per_request']['users'] / 1000:.0f} ms per sign-in"
            )
    return out


def main() -> int:
    parser = load_arguments(__doc__)
    routed_path_arguments(parser)
    parser.add_argument(
        "--users-db-pool-size",
        type=int,
        default=None,
        help="the users service's DB_POOL_SIZE (default: its own, 10 plus 10 overflow)",
    )
    args = parser.parse_args()

    prepared = prepare(args)
    if prepared is None:
        return 1
    tool, connections, info = prepared

    limits = ("RATE_LIMIT_DEFAULT", "RATE_LIMIT_HEALTH", "RATE_LIMIT_SIGN_IN", "RATE_LIMIT_REGISTRATION")
    extra_env = {
        # Rate limits stay on (counting is part of the cost) but can't trip.
        "gateway": dict.fromkeys(limits, NO_LIMIT),
        "users": argon2_production_env(),
    }
    if args.users_db_pool_size:
        extra_env["users"]["DB_POOL_SIZE"] = str(args.users_db_pool_size)
    started = time.monotonic()
    base = make_base_dir("microblog-bench-auth-")
    # In `base`, so the processes' logs can be kept when something went wrong.
    try:
        with LocalStack(base / "stack", extra_env=extra_env) as stack:
            print(f"stack ready in {time.monotonic() - started:.1f}s (logs in {stack.base_dir})")
            gateway, users, service = (stack.pid(n) for n in ("gateway", "users", args.service))
            assert gateway and users and service
            account = register(stack.gateway_url, "auth")
            token = sign_in(stack.gateway_url, account)["access_token"]
            argon2 = stored_hash_parameters(stack.database_urls["users"], account.id)
            print(f"account {account.username} ({account.id}); stored hash {argon2}")
            url = stack.gateway_url + args.path
            expect = first_status(url, dict)
            refused = first_status(url, lambda: {"Authorization": "Bearer not-a-token"})
            if refused != 401:
                raise RuntimeError(
                    f"{args.path} answered {refused} to a bad token: the gateway checks none there"
                )
            revoked_after = check_revocation(stack.gateway_url, account, args.path)
            print(f"a revoked token was refused after {revoked_after:.1f}s")
            bearer = {"Authorization": f"Bearer {token}"}
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            routed = {"gateway": gateway, args.service: service}
            login = {"gateway": gateway, "users": users}
            targets = [
                Target(NO_TOKEN, url, dict, routed, expect),
                Target(WITH_TOKEN, url, lambda: bearer, routed, expect),
                Target(SIGN_IN, stack.gateway_url + "/oauth/token", lambda: form, login,
                       method="POST", body=urlencode(account.password_grant())),
            ]  # fmt: skip
            for target in targets:
                answer = check(target)
                print(
                    f"  {target.name:<26} {target.method} {target.url} -> {target.expect_status} {answer!r}"
                )
            rows = []
            for conns in connections:
                for target in targets:
                    row = measure(target, tool, conns, args.duration, args.warmup)
                    rows.append(row)
                    print_row(row, 26)
    except BaseException:
        print(f"failed: the processes' logs are in {base / 'stack'}", file=sys.stderr)
        raise

    table = markdown_table(rows)
    summary = summary_lines(rows)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    params = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "path": args.path,
        "service": args.service,
        "expect_status": expect,
        "argon2_stored_hash": argon2,
        "revoked_token_refused_after_s": round(revoked_after, 2),
        "users_db_pool_size": args.users_db_pool_size,
    }
    result = {"when": stamp, "machine": info, "parameters": params, "rows": rows, "summary": summary}
    markdown = (
        f"# Auth benchmark {stamp}\n\n"
        f"{info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, load tool {tool}, "
        f"{args.duration:g}s per run after {args.warmup:g}s warm-up, through the gateway. "
        f"`GET {args.path}` on {args.service} (answering {expect}) without and with a bearer token; "
        f"sign-in is `POST /oauth/token` (password grant), Argon2 {argon2['type']} "
        f"m={argon2['m_kib']} KiB, t={argon2['t']}, p={argon2['p']}"
        + (f"; users DB_POOL_SIZE={args.users_db_pool_size}" if args.users_db_pool_size else "")
        + ".\n\n"
        f"{table}\n\n" + "\n".join(summary) + "\n"
    )
    written = write_results(args.out, "auth", stamp, result, markdown)
    print()
    print(table)
    print()
    print("\n".join(summary))
    print(f"\nwritten: {written} and .md")
    if any(r["errors"] or not r["requests"] for r in rows):
        shutil.rmtree(base / "stack" / "postgres", ignore_errors=True)
        print(f"errors or unanswered runs: the processes' logs are kept in {base / 'stack'}")
        return 1
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
