"""What the posts service's code needs beside the database session: its settings, its URLs and the
language detector. Built in `create_app` (no I/O) and reached from routes through `RuntimeDep`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from microblog_common.urls import PublicUrls
from posts.languages import Detector, detector
from posts.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    urls: PublicUrls
    languages: Detector

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
        )


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
