"""What the users service's code needs beside the database session: its settings, the password
hasher, the signing keys, the HTML templates, where uploads are stored and the public URLs. Built
in `create_app` (no I/O) and reached from routes through `RuntimeDep`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape

from microblog_common.urls import PublicUrls
from users.media.storage import MediaStorage, build_storage
from users.passwords import Passwords
from users.settings import Settings
from users.tokens.keys import KeyRing

TEMPLATES = Path(__file__).parent / "oauth" / "templates"


@dataclass
class Runtime:
    settings: Settings
    passwords: Passwords
    keys: KeyRing
    templates: Environment
    media: MediaStorage
    urls: PublicUrls

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        templates = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True), auto_reload=False
        )
        media, media_url = build_storage(settings)
        urls = PublicUrls(settings.public_url, media_url)
        return cls(settings, Passwords(settings), KeyRing(settings), templates, media, urls)


async def get_runtime(request: Request) -> Runtime:  # async: no worker-thread hop
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
