"""Giving freed memory back to the operating system.

The index writers (tantivy's, in Rust) allocate their indexing heap through the C allocator on
their own threads; glibc keeps what they free in per-thread arenas, so after a burst of indexing
the process would keep tens of MB it no longer uses, and a service must stay under 150 MB.
`malloc_trim(0)` returns the free pages; it costs about a millisecond, so the indexer calls it
after writing, at most every few seconds. A no-op where the C library has no `malloc_trim`."""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable

MIN_INTERVAL_SECONDS = 2.0
M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = 2


def limit_arenas() -> None:
    """At most two malloc arenas (glibc otherwise makes up to eight per core, one per busy thread,
    each keeping its own free memory): what `MALLOC_ARENA_MAX=2` does, for arenas made from now on."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        ctypes.CDLL(name).mallopt(M_ARENA_MAX, ARENAS)
    except (OSError, AttributeError):
        return


def _trimmer() -> Callable[[], object] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class MemoryReleaser:
    def __init__(self, interval: float = MIN_INTERVAL_SECONDS):
        self.interval = interval
        self._trim = _trimmer()
        self._last = 0.0

    def after_writing(self) -> None:
        now = time.monotonic()
        if self._trim is not None and now - self._last >= self.interval:
            self._last = now
            self._trim()
