"""Garbage-collection pauses: kept short, and the long ones logged. A collection of the oldest
generation walks every object alive with the interpreter stopped: with 5,000 live streams open on
one notify process, such pauses reached 630 ms, the tail of the streams' latency, and nothing else
would have said where the time went.

Three things keep them down, once start-up is done: what start-up made (modules, the app, its
schemas: well over 100,000 objects that live as long as the process) is frozen out of the
collector's sight; the youngest generation is collected every 50,000 allocations instead of 700,
so what a burst of work makes and drops (a fan-out to thousands of streams) dies young instead of
being promoted; and the oldest generation is collected after 100 collections of the middle one
instead of 10. With 5,000 streams open, that took the longest posts' delivery from about 960 ms to
350 ms and notify's CPU per delivery from 100-117 µs to 56 µs (`bench/notify_streams.py`).
Cyclic garbage is still found by the younger collections; only what survives them waits longer."""

from __future__ import annotations

import gc
import time
from typing import Any

import structlog

log = structlog.get_logger(__name__)

LOGGED_FROM_SECONDS = 0.05
YOUNGEST_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLDEST_THRESHOLD = 100


class _PauseLogger:
    def __init__(self, threshold: float):
        self.threshold = threshold
        self.started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        elapsed = time.perf_counter() - self.started
        if elapsed < self.threshold:
            return
        try:
            log.warning(
                "gc_pause",
                generation=info.get("generation"),
                ms=round(elapsed * 1000, 1),
                collected=info.get("collected"),
            )
        except (ValueError, OSError):
            # The log's stream is closed (a collection while the interpreter shuts down, or after
            # a test's captured stream went): a collector callback has no caller to raise to.
            pass


def log_gc_pauses(threshold: float = LOGGED_FROM_SECONDS) -> None:
    """Once per process (the embedded mode starts several services in one)."""
    if not any(isinstance(cb, _PauseLogger) for cb in gc.callbacks):
        gc.callbacks.append(_PauseLogger(threshold))


def settle_after_startup() -> None:
    """Called once start-up is done (the embedded mode calls it per service: harmless)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNGEST_THRESHOLD, MIDDLE_THRESHOLD, OLDEST_THRESHOLD)
