"""py-spy beside a measured run: where a process under load spends its time, written next to the
results (`--profile` on the benchmarks that take it). py-spy samples from outside the process
(`--nonblocking`: without pausing it), so the run it profiles stays close to an unprofiled one.

The profile is py-spy's raw (collapsed stacks) format; `top()` sums it by function for the summary
printed at the end (the share of samples in which each function was on the stack)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path


def py_spy_command() -> list[str] | None:
    if shutil.which("py-spy"):
        return ["py-spy"]
    if shutil.which("uvx"):
        return ["uvx", "py-spy"]
    return None


@contextlib.contextmanager
def py_spy(pid: int, out: Path, seconds: float, *, gil: bool = False) -> Iterator[Path | None]:
    """Records `pid` for `seconds` (the length of the run inside the block) into `out`; yields the
    path, or None (and records nothing) where py-spy can't be had. `gil`: only the samples of the
    thread holding the GIL (Python's own CPU time, without threads waiting on I/O or locks)."""
    command = py_spy_command()
    if command is None:
        print("  (no py-spy: not profiled)", flush=True)
        yield None
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    recorder = subprocess.Popen(
        [*command, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
         "--rate", "200", "--nonblocking", "--format", "raw", "--output", str(out),
         *(["--gil"] if gil else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield out
    finally:
        _, errors = recorder.communicate(timeout=seconds + 60)
        if recorder.returncode != 0 or not out.exists():
            print(f"  (py-spy failed: {errors.strip()[-300:]})", flush=True)


def top(
    profile: Path, count: int = 25, *, only: tuple[str, ...] = (), leaf: bool = False
) -> list[tuple[str, float]]:
    """The functions on the most stacks: (function (file:line), share of samples). `only`: just
    the frames whose text contains one of these (the project's own packages, say); `leaf`: count
    the innermost frame only (where the time itself went)."""
    counted: Counter[str] = Counter()
    total = 0
    for line in profile.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        n = int(samples)
        total += n
        frames = stack.split(";")
        for frame in [frames[-1]] if leaf else set(frames):
            if not only or any(part in frame for part in only):
                counted[frame] += n
    return [(frame, n / total) for frame, n in counted.most_common(count)] if total else []
