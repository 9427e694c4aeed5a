"""What the notify service's routes and lane tasks need beside a session: settings, public URLs,
the live-stream hub, the email composer and transport. Built in `create_app` without I/O
(`app.state.runtime`, `lane.runtime`)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from microblog_common.urls import PublicUrls
from notify.email.backends import MailBackend, build_backend
from notify.email.messages import Composer
from notify.settings import Settings
from notify.streaming.hub import StreamHub

if TYPE_CHECKING:
    from microblog_common.lane import EventLane


class SenderWake:
    """Wakes the email sender when a transaction of its lane queued an email (a consumer's), so a
    message goes out at once rather than at the next poll."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, lane: EventLane) -> None:
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        lane.db.on_commit(self._on_commit)

    def _on_commit(self, session: Session) -> None:
        if session.info.pop("email_queued", False) and self._loop is not None and self._event is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed at shutdown
                self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, lane: EventLane, seconds: float) -> None:
        assert self._event is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        self._event.clear()


@dataclass
class Runtime:
    settings: Settings
    urls: PublicUrls
    hub: StreamHub
    composer: Composer
    mail_backend: MailBackend
    email_wake: SenderWake = field(default_factory=SenderWake)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        urls = PublicUrls(settings.public_url)
        return cls(
            settings=settings,
            urls=urls,
            hub=StreamHub(
                urls,
                queue_size=settings.stream_queue_size,
                presence_refresh_seconds=settings.stream_presence_refresh_seconds,
            ),
            composer=Composer(settings.instance_title, urls, settings.sender),
            mail_backend=build_backend(settings),
        )


async def get_runtime(request: Request) -> Runtime:  # async: no worker-thread hop
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
