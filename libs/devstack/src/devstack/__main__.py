"""`python -m devstack run` (embedded mode, one process) and `python -m devstack stack` (local
processes over real PostgreSQL and RabbitMQ, in the foreground until Ctrl-C)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path


def _run(_: argparse.Namespace) -> int:
    from devstack import embedded

    embedded.main()
    return 0


def _stack(args: argparse.Namespace) -> int:
    from devstack.servers import missing_server_packages
    from devstack.stack import SERVICES, LocalStack

    missing = missing_server_packages()
    if missing:
        print(f"Missing Debian packages: {' '.join(missing)} (run `make servers`)", file=sys.stderr)
        return 1
    stop = threading.Event()
    # SIGTERM too, so `kill` stops the children as cleanly as Ctrl-C does.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("Starting PostgreSQL, RabbitMQ, six services and the gateway...", flush=True)
    stack = LocalStack(args.base_dir, gateway_port=args.port)
    with stack:
        print(f"Microblog (local processes) on {stack.gateway_url}", flush=True)
        for name in SERVICES:
            print(f"  {name:<9} {stack.service_urls[name]}  log: {stack.log_path(name)}", flush=True)
        print(f"  gateway   log: {stack.log_path('gateway')}\nCtrl-C stops everything.", flush=True)
        stop.wait()
        print("Stopping...", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="embedded mode: everything in one process (PORT, default 8000)")
    run.set_defaults(handler=_run)
    stack = commands.add_parser("stack", help="one process per service over real PostgreSQL and RabbitMQ")
    stack.add_argument(
        "--port",
        type=int,
        default=int(os.environ["PORT"]) if os.environ.get("PORT") else None,
        help="gateway port (default: $PORT, else a free one)",
    )
    stack.add_argument(
        "--base-dir",
        type=Path,
        default=None,
        help="where servers' data and logs go (default: a temp dir removed at exit)",
    )
    stack.set_defaults(handler=_stack)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
