"""What the posts service's code needs beside the database session: its settings, its URLs, the
language detector and the users service's account snapshots. Built in `create_app` (no I/O) and
reached from routes through `RuntimeDep`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from microblog_common.internal_client import InternalClient, ServiceAddress
from microblog_common.urls import PublicUrls
from posts.languages import Detector, detector
from posts.replica.users import AccountSource
from posts.settings import Settings
from posts.statuses.rendering import RenderCache


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    urls: PublicUrls
    languages: Detector
    accounts: AccountSource
    rendered: RenderCache

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        return cls(
            settings,
            PublicUrls(settings.public_url),
            detector(
                settings.detected_languages,
                settings.language_min_relative_distance,
                settings.language_low_accuracy,
            ),
            AccountSource(
                InternalClient(
                    ServiceAddress.parse("users", settings.users_url),
                    settings.internal_secret.get_secret_value(),
                    timeout=settings.users_timeout_seconds,
                )
            ),
            RenderCache(settings.render_cache_statuses, settings.render_cache_accounts),
        )


async def get_runtime(request: Request) -> Runtime:  # async: no worker-thread hop
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
