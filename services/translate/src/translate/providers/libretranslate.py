"""LibreTranslate (self-hosted or libretranslate.com).

- `POST {url}/translate`, JSON `{"q": [texts], "source": code | "auto", "target": code,
  "format": "html", "api_key": ...}`; the answer is `{"translatedText": [...]}`, plus
  `detectedLanguage: [{"language", "confidence"}]` (confidence 0-100) with `"auto"`.
- `GET {url}/languages`: `[{"code", "name", "targets": [...]}]`.
- Errors: `{"error": "..."}` with 400 (bad request, unsupported language, over the server's
  character limit, an API key required), 403 (invalid API key, or banned for abuse), 429 (slow
  down), 500.
- Limits are the server's (`--char-limit`, `--batch-limit`, unlimited by default); 5,000
  characters per request is assumed, as libretranslate.com's keys allow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from translate.providers.base import LanguagePairs, Provider, Translated
from translate.providers.errors import (
    ProviderBadResponse,
    ProviderCredentialsRejected,
    ProviderError,
    ProviderRefusedLanguage,
)
from translate.settings import ProviderName


class LibreTranslate(Provider):
    key: ClassVar[ProviderName] = "libretranslate"
    name: ClassVar[str] = "LibreTranslate"
    max_characters: ClassVar[int] = 5_000
    max_texts: ClassVar[int] = 50

    @property
    def url(self) -> str:
        assert self.settings.libretranslate_url is not None  # only built when configured
        return self.settings.libretranslate_url

    async def translate(self, texts: Sequence[str], source: str | None, target: str) -> list[Translated]:
        body: dict[str, Any] = {
            "q": list(texts),
            "source": source or "auto",
            "target": target,
            "format": "html",
        }
        if self.settings.libretranslate_api_key is not None:
            body["api_key"] = self.settings.libretranslate_api_key.get_secret_value()
        answer = self.json(await self.call("POST", f"{self.url}/translate", json=body))
        translated = answer.get("translatedText") if isinstance(answer, dict) else None
        if not isinstance(translated, list) or len(translated) != len(texts):
            raise self.bad_response("a translation list that does not match the texts sent")
        detected = answer.get("detectedLanguage") if source is None else None
        languages: list[Any] = detected if isinstance(detected, list) else [None] * len(texts)
        out = []
        for text, language in zip(translated, languages, strict=False):
            if not isinstance(text, str):
                raise self.bad_response("a translation without text")
            code = language.get("language") if isinstance(language, dict) else None
            out.append(Translated(text, code if isinstance(code, str) else None))
        return out

    async def languages(self) -> LanguagePairs:
        listed = self.json(await self.call("GET", f"{self.url}/languages"))
        if not isinstance(listed, list) or not listed:
            raise self.bad_response("an empty language list")
        pairs: dict[str | None, list[str]] = {}
        every_target: set[str] = set()
        for language in listed:
            code = language.get("code") if isinstance(language, dict) else None
            if not isinstance(code, str):
                raise self.bad_response("a language without a code")
            targets = language.get("targets")
            if not isinstance(targets, list):  # servers before 1.3 list no pairs: any to any
                targets = [other.get("code") for other in listed if isinstance(other, dict)]
            pairs[code] = sorted(t for t in targets if isinstance(t, str) and t != code)
            every_target.update(pairs[code])
        pairs[None] = sorted(every_target)
        return LanguagePairs(pairs)

    def error_for(self, response: httpx.Response) -> ProviderError:
        message = _error_message(response)
        status = response.status_code
        if status == 403 or (status == 400 and "api key" in message.lower()):
            return ProviderCredentialsRejected(
                f"The translation provider ({self.name}) refused the request: {message or 'forbidden'}"
                " (check LIBRETRANSLATE_API_KEY)"
            )
        if status == 400 and ("not supported" in message or "not available as a target" in message):
            return ProviderRefusedLanguage(
                f"The translation provider ({self.name}) can't translate between these languages"
            )
        if status >= 500:
            return self.unavailable(response)
        return ProviderBadResponse(
            f"The translation provider ({self.name}) refused the request (HTTP {status}: {message})"
        )


def _error_message(response: httpx.Response) -> str:
    try:
        message = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return message if isinstance(message, str) else ""
