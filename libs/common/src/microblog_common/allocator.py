"""The C allocator's memory: fewer arenas, and freed memory given back to the operating system.

glibc gives each thread that allocates while another does an arena of its own (up to eight per
core); memory freed in one arena is kept for that arena. A service's request threads, event-lane
threads and native libraries' threads (tantivy's index writers) would each keep their own free
memory, and a service must stay under 150 MB: `limit_arenas()` (called when any app is created,
before its threads start) holds a process to two, what `MALLOC_ARENA_MAX=2` does. `malloc_trim(0)`
returns free pages after a burst (the search indexer, `MemoryReleaser`); it costs about a
millisecond, so at most every few seconds. Both are no-ops where the C library lacks them."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import time
from collections.abc import Callable
from typing import Any

MIN_INTERVAL_SECONDS = 2.0
M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, or None; looked up once per process (finding it runs `ldconfig -p`, and a
    test process creates many apps)."""
    path = ctypes.util.find_library("c")
    if path is None:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


def _libc_function(name: str) -> Any | None:
    return getattr(_libc(), name, None)


@functools.cache
def limit_arenas() -> None:
    """At most two malloc arenas, for arenas made from now on; once per process (an environment
    that sets MALLOC_ARENA_MAX itself is left to it)."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None and not os.environ.get("MALLOC_ARENA_MAX"):
        mallopt(M_ARENA_MAX, ARENAS)


def _trimmer() -> Callable[[], object] | None:
    trim = _libc_function("malloc_trim")
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class MemoryReleaser:
    """`after_writing()` gives free memory back, at most every `interval` seconds."""

    def __init__(self, interval: float = MIN_INTERVAL_SECONDS):
        self.interval = interval
        self._trim = _trimmer()
        self._last = 0.0

    def after_writing(self) -> None:
        now = time.monotonic()
        if self._trim is not None and now - self._last >= self.interval:
            self._last = now
            self._trim()
