"""What the search service's code needs beside a database session: its settings, its public URLs
and the index. Built without I/O (`ServiceSpec.build_runtime`); `app.state.runtime` in the API and
`lane.runtime` in the indexer (the same object when the lane runs in the API process)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from microblog_common.urls import PublicUrls
from search.index import build_index
from search.index.base import SearchIndex
from search.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    urls: PublicUrls
    index: SearchIndex

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        return cls(settings, PublicUrls(settings.public_url), build_index(settings))


async def get_runtime(request: Request) -> Runtime:  # async: no worker-thread hop
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def start_index(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    await runtime.index.start()


async def close_index(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    if app.state.lane is None:  # otherwise the indexer closes it when the lane stops
        await runtime.index.close()
