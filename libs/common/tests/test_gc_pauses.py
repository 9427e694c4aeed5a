"""Long garbage-collection pauses are logged with their generation and length."""

from __future__ import annotations

import gc
import io

import structlog
from structlog.testing import capture_logs

from microblog_common import gc_pauses


def test_a_long_collection_is_logged_and_a_short_one_is_not():
    before = list(gc.callbacks)
    try:
        gc.callbacks[:] = [cb for cb in gc.callbacks if not isinstance(cb, gc_pauses._PauseLogger)]
        gc_pauses.log_gc_pauses(threshold=0.0)
        gc_pauses.log_gc_pauses(threshold=0.0)  # once per process
        assert sum(isinstance(cb, gc_pauses._PauseLogger) for cb in gc.callbacks) == 1
        with capture_logs() as logs:
            gc.collect()
        pauses = [e for e in logs if e["event"] == "gc_pause"]
        assert pauses and pauses[-1]["generation"] == 2 and pauses[-1]["ms"] >= 0
        next(cb for cb in gc.callbacks if isinstance(cb, gc_pauses._PauseLogger)).threshold = 3600.0
        with capture_logs() as logs:
            gc.collect()
        assert not [e for e in logs if e["event"] == "gc_pause"]
    finally:
        gc.callbacks[:] = before


def test_settling_freezes_start_up_and_collects_less_often():
    threshold = gc.get_threshold()
    try:
        leftover = [[i] for i in range(1000)]
        gc_pauses.settle_after_startup()
        assert gc.get_freeze_count() >= len(leftover)
        wanted = (gc_pauses.YOUNGEST_THRESHOLD, gc_pauses.MIDDLE_THRESHOLD, gc_pauses.OLDEST_THRESHOLD)
        assert gc.get_threshold() == wanted
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_the_setting_is_on_unless_testing():
    from microblog_common.settings import Environment, ServiceSettings

    def settings(**values):
        return ServiceSettings(
            service_name="x", internal_secret="s" * 40, database_url="sqlite://", event_bus="memory", **values
        )

    assert settings(environment=Environment.production).settles_gc
    assert settings(environment=Environment.development).settles_gc
    assert not settings(environment=Environment.test).settles_gc
    assert settings(environment=Environment.test, gc_settle_after_startup=True).settles_gc
    assert not settings(environment=Environment.production, gc_settle_after_startup=False).settles_gc


def test_a_pause_logged_to_a_closed_stream_raises_nothing(monkeypatch):
    """The collector calls the logger wherever it runs, at shutdown too; an exception from a
    collector callback is printed as "Exception ignored", never raised to any caller."""
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(gc_pauses, "log", structlog.wrap_logger(structlog.PrintLogger(closed)))
    pauses = gc_pauses._PauseLogger(threshold=0.0)
    pauses("start", {})
    pauses("stop", {"generation": 2, "collected": 0})  # would raise ValueError from print()
