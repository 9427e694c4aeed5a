"""What the translate service's code needs beside a database session: its settings, the provider
that serves (None: translation is off) and the provider's language list. Built in `create_app`
without I/O (the provider's HTTP client is made on first use) and reached from routes through
`RuntimeDep`; closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from anyio import CapacityLimiter
from fastapi import Depends, FastAPI, Request

from translate.providers import Provider, build_provider
from translate.settings import Settings
from translate.translations.languages import LanguageCache


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    provider: Provider | None
    languages: LanguageCache | None
    # Worker threads running a request's queries, at most the pool's connections: more would
    # only wait on the pool (or open overflow connections to close again) and contend for the GIL.
    db_limiter: CapacityLimiter

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        provider = build_provider(settings)
        languages = (
            LanguageCache(
                provider,
                max_age=settings.translation_languages_cache_seconds,
                retry_after_failure=settings.translation_languages_retry_seconds,
            )
            if provider is not None
            else None
        )
        return cls(settings, provider, languages, CapacityLimiter(settings.db_pool_size))

    async def aclose(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain `def` dependency on a worker thread, a hop for nothing here.
    runtime: Runtime = request.app.state.runtime
    return runtime


async def close_runtime(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    await runtime.aclose()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
