"""Starting and stopping the live streams with the API process.

uvicorn closes idle connections at shutdown but waits for responses in progress, and a stream
never ends by itself: so on SIGTERM/SIGINT the hub ends every stream first (clients reconnect to
another replica), and only then does uvicorn's own shutdown (and the lifespan's) go on."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from types import FrameType
from typing import Any

from fastapi import FastAPI

from notify.runtime import Runtime

HANDLED = (signal.SIGTERM, signal.SIGINT)


async def start_streaming(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    await runtime.hub.start(app.state.db, app.state.bus)
    _end_streams_on_exit_signals(runtime)


async def stop_streaming(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    await runtime.hub.stop()


def _end_streams_on_exit_signals(runtime: Runtime) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread only (e.g. an app served from a test's thread)
    loop = asyncio.get_running_loop()
    for sig in HANDLED:
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue  # nobody handles it (the default action): leave it be

        def chained(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            with contextlib.suppress(RuntimeError):  # that loop is gone (an app stopped earlier)
                loop.call_soon_threadsafe(runtime.hub.close_all)
            previous(signum, frame)

        signal.signal(sig, chained)
