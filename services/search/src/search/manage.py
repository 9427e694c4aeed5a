"""Operator commands: `python -m search.manage rebuild [--no-wait] [--timeout SECONDS]`.

`rebuild` re-reads everything from the users and posts services' exports into the replica and has
the running service build a new index generation from it, switching searches over once it is
complete (see `rebuild.py`). Settings from the environment, as the service's (DATABASE_URL,
INTERNAL_SECRET, USERS_URL, POSTS_URL, ...)."""

from __future__ import annotations

import argparse
import sys

from search.indexing.generations import GenerationState
from search.rebuild import RebuildError, rebuild
from search.settings import Settings


def _rebuild(args: argparse.Namespace) -> int:
    last: list[str] = []

    def progress(state: GenerationState) -> None:
        line = f"generation {state.name}: {state.state}, {state.documents} documents written"
        if not last or last[-1] != line:
            print(line, flush=True)
            last.append(line)

    try:
        counts, generation = rebuild(
            Settings(), wait=not args.no_wait, timeout=args.timeout, progress=progress
        )
    except RebuildError as exc:
        print(f"rebuild failed: {exc}", file=sys.stderr)
        return 1
    for kind, read in counts.read.items():
        print(f"{kind}: {read} exported, {counts.applied[kind]} newer than the replica", flush=True)
    for kind, swept in counts.swept.items():
        print(f"{kind}: {swept} gone at the source, deleted", flush=True)
    print(f"generation {generation.name}: {generation.state}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.manage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("rebuild", help="re-index everything from the users and posts services")
    command.add_argument("--no-wait", action="store_true", help="request the new generation and return")
    command.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the switch")
    command.set_defaults(handler=_rebuild)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
