"""DeepL API v2, on the free host for a free key (ending in ":fx") and the pro host otherwise.

- `POST {host}/v2/translate` with `Authorization: DeepL-Auth-Key <key>`, JSON `{"text": [...],
  "target_lang": "DE", "source_lang"?: "EN", "tag_handling": "html"}`; the answer is
  `{"translations": [{"detected_source_language": "EN", "text": ...}]}`.
- `GET {host}/v2/languages?type=source|target`: `[{"language": "EN-GB", "name", ...}]`. DeepL's
  codes are upper case (`EN`, `EN-GB`, `ZH-HANS`); the English and Portuguese targets without a
  variant (`EN`, `PT`) are deprecated, so no longer listed, but still accepted.
- Errors: 403 authorization failed, 456 quota exceeded, 429 too many requests, 413/414 too
  large, 5xx unavailable. Bodies are `{"message": ...}`.
- Limits: 50 texts and 128 KiB per request; 30,000 characters is assumed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from translate.providers.base import LanguagePairs, Provider, Translated
from translate.providers.errors import (
    ProviderBadResponse,
    ProviderCredentialsRejected,
    ProviderError,
    ProviderQuotaExceeded,
    ProviderRefusedLanguage,
)
from translate.settings import ProviderName

# Targets DeepL still accepts though its list leaves them out (they prefer a variant).
UNLISTED_TARGETS = ("EN", "PT")


class DeepL(Provider):
    key: ClassVar[ProviderName] = "deepl"
    name: ClassVar[str] = "DeepL.com"
    max_characters: ClassVar[int] = 30_000
    max_texts: ClassVar[int] = 50

    def _headers(self) -> dict[str, str]:
        key = self.settings.deepl_api_key
        assert key is not None  # only built when configured
        return {"Authorization": f"DeepL-Auth-Key {key.get_secret_value()}"}

    async def translate(self, texts: Sequence[str], source: str | None, target: str) -> list[Translated]:
        body: dict[str, Any] = {"text": list(texts), "target_lang": target, "tag_handling": "html"}
        if source is not None:
            body["source_lang"] = source
        url = f"{self.settings.deepl_base_url}/v2/translate"
        answer = self.json(await self.call("POST", url, headers=self._headers(), json=body))
        translations = answer.get("translations") if isinstance(answer, dict) else None
        if not isinstance(translations, list) or len(translations) != len(texts):
            raise self.bad_response("a translation list that does not match the texts sent")
        out = []
        for item in translations:
            text = item.get("text") if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise self.bad_response("a translation without text")
            detected = item.get("detected_source_language")
            out.append(Translated(text, detected if isinstance(detected, str) else None))
        return out

    async def languages(self) -> LanguagePairs:
        sources = await self._list("source")
        targets = sorted({*await self._list("target"), *UNLISTED_TARGETS})
        pairs: dict[str | None, list[str]] = {
            source: [t for t in targets if t != source] for source in sources
        }
        pairs[None] = targets
        return LanguagePairs(pairs)

    async def _list(self, kind: str) -> list[str]:
        url = f"{self.settings.deepl_base_url}/v2/languages"
        listed = self.json(await self.call("GET", url, params={"type": kind}, headers=self._headers()))
        if not isinstance(listed, list) or not listed:
            raise self.bad_response(f"an empty {kind} language list")
        codes = [item.get("language") for item in listed if isinstance(item, dict)]
        return [code.upper() for code in codes if isinstance(code, str)]

    def error_for(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        if status in (401, 403):
            return ProviderCredentialsRejected(
                f"The translation provider ({self.name}) rejected the configured key (check DEEPL_API_KEY)"
            )
        if status == 456:
            return ProviderQuotaExceeded(f"The translation provider's quota ({self.name}) is used up for now")
        if status >= 500:
            return self.unavailable(response)
        message = _error_message(response)
        if status == 400 and "lang" in message.lower():
            return ProviderRefusedLanguage(
                f"The translation provider ({self.name}) can't translate between these languages"
            )
        return ProviderBadResponse(
            f"The translation provider ({self.name}) refused the request (HTTP {status}: {message})"
        )


def _error_message(response: httpx.Response) -> str:
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return message if isinstance(message, str) else ""
