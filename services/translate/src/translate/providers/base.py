"""What every translation provider adapter shares: the shape of a translation, of a language list,
and one HTTP call with a deadline, retries and error mapping.

Every call to a provider is bounded by `TRANSLATION_TIMEOUT_SECONDS` as a whole (attempts and the
waits between them), so a client waits at most that long for its answer or its 503. A 429, a 5xx
or a failed connection is tried again (at most `TRANSLATION_RETRIES` more times) after a jittered,
exponentially growing wait (stamina), or after the provider's `Retry-After` when it sends one
that fits in what is left of the deadline. Anything else the provider answers is mapped at once
to one of `errors.py`'s failures by the adapter."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import stamina
import structlog

from translate.providers.errors import (
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from translate.settings import ProviderName, Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Translated:
    text: str
    # The provider's code of the language it detected, when it was asked to detect one.
    detected_language: str | None = None


@dataclass(frozen=True)
class LanguagePairs:
    """What a provider translates, in its own language codes: for each source language the target
    languages, and under `None` the targets of a text whose language it detects."""

    targets: Mapping[str | None, Sequence[str]]


class _RetryableAnswer(Exception):
    def __init__(self, response: httpx.Response):
        self.response = response
        super().__init__(f"HTTP {response.status_code}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class Provider(ABC):
    key: ClassVar[ProviderName]
    # The Translation entity's `provider`.
    name: ClassVar[str]
    # The provider's documented limits per request: characters (all texts together) and texts.
    max_characters: ClassVar[int]
    max_texts: ClassVar[int]

    def __init__(self, settings: Settings):
        self.settings = settings
        self._client: httpx.AsyncClient | None = None

    @property
    def characters_per_request(self) -> int:
        return self.settings.translation_max_characters or self.max_characters

    @abstractmethod
    async def translate(self, texts: Sequence[str], source: str | None, target: str) -> list[Translated]:
        """Translates `texts` (HTML fragments, together within the request limits) in one request,
        from `source` (None: let the provider detect it) into `target`, in the same order."""

    @abstractmethod
    async def languages(self) -> LanguagePairs:
        """The provider's current language list."""

    @abstractmethod
    def error_for(self, response: httpx.Response) -> ProviderError:
        """The failure an error answer means, by the provider's documented codes."""

    @property
    def client(self) -> httpx.AsyncClient:
        # Built on first use, inside the event loop that will use it (the app's), not at import.
        if self._client is None:
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
                headers={"User-Agent": "Microblog translate service"},
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request to the provider, retried as the module says; the successful answer, or the
        failure as a ProviderError."""
        settings = self.settings
        budget = settings.translation_timeout_seconds
        deadline = time.monotonic() + budget

        def backoff(exc: Exception) -> bool | float:
            if isinstance(exc, _RetryableAnswer):
                wait = _retry_after(exc.response)
                if wait is None:
                    return True
                # The provider's own wait, unless it would outlast the deadline: then fail now.
                return wait if wait < deadline - time.monotonic() else False
            return isinstance(exc, httpx.TransportError)

        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(budget):
                async for attempt in stamina.retry_context(
                    on=backoff,
                    attempts=settings.translation_retries + 1,
                    timeout=budget,
                    wait_initial=settings.translation_retry_initial_seconds,
                    wait_max=settings.translation_retry_max_seconds,
                    wait_jitter=settings.translation_retry_initial_seconds,
                ):
                    with attempt:
                        response = await self.client.request(
                            method, url, timeout=max(deadline - time.monotonic(), 0.001), **kwargs
                        )
                        if response.status_code in (408, 429) or response.status_code >= 500:
                            self._log_failure(response)
                            raise _RetryableAnswer(response)
        except TimeoutError:
            log.warning("translation_provider_timeout", provider=self.key, seconds=budget)
            raise ProviderUnavailable(
                f"The translation provider ({self.name}) did not answer within {budget:g} seconds"
            ) from None
        except _RetryableAnswer as exc:
            if exc.response.status_code == 429:
                raise ProviderRateLimited(
                    f"The translation provider ({self.name}) is refusing more requests for now"
                    " (too many requests)"
                ) from None
            raise self.error_for(exc.response) from None
        except httpx.TransportError as exc:
            log.warning("translation_provider_unreachable", provider=self.key, error=type(exc).__name__)
            raise ProviderUnavailable(
                f"The translation provider ({self.name}) could not be reached"
            ) from None
        assert response is not None
        if response.status_code >= 400:
            self._log_failure(response)
            raise self.error_for(response)
        return response

    def _log_failure(self, response: httpx.Response) -> None:
        log.warning(
            "translation_provider_error",
            provider=self.key,
            status=response.status_code,
            body=response.text[:300],
            # Microsoft asks for its request id when a failure is reported to it.
            provider_request_id=response.headers.get("x-requestid"),
        )

    def json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self.bad_response("an answer that is not JSON") from None

    def bad_response(self, what: str) -> ProviderBadResponse:
        log.warning("translation_provider_bad_response", provider=self.key, what=what)
        return ProviderBadResponse(f"The translation provider ({self.name}) sent {what}")

    def unavailable(self, response: httpx.Response) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"The translation provider ({self.name}) is unavailable (HTTP {response.status_code})"
        )
