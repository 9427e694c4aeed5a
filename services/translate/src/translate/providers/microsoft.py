"""Microsoft Translator (Azure AI Translator), Text API v3.0.

- `POST {endpoint}/translate?api-version=3.0&to=..[&from=..]&textType=html`, a JSON array of
  `{"Text": ...}`; the answer is an array in the same order of `{"translations": [{"text", "to"}]}`,
  plus `detectedLanguage` when `from` was left out (the service detects).
- `GET {endpoint}/languages?api-version=3.0&scope=translation`: `{"translation": {code: {...}}}`,
  every listed language translating into every other; no authentication.
- Headers: `Ocp-Apim-Subscription-Key`, and `Ocp-Apim-Subscription-Region` for a regional or
  multi-service resource (a setting: never assumed); `X-ClientTraceId` (logged, for support).
- Errors: `{"error": {"code": NNNSSS, "message": ...}}`, the HTTP status followed by a subcode:
  401xxx credentials, 403001 the free tier's quota, 429xxx too many requests, 5xx unavailable,
  400035/400036/400019/400023 a language it refuses.
- Limits, as the older and stricter documentation gives them: 10,000 characters and 100 texts
  per request."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import structlog

from translate.providers.base import LanguagePairs, Provider, Translated
from translate.providers.errors import (
    ProviderBadResponse,
    ProviderCredentialsRejected,
    ProviderError,
    ProviderQuotaExceeded,
    ProviderRefusedLanguage,
)
from translate.settings import ProviderName

log = structlog.get_logger(__name__)

API_VERSION = "3.0"
LANGUAGE_ERRORS = {400019, 400023, 400035, 400036}


class MicrosoftTranslator(Provider):
    key: ClassVar[ProviderName] = "microsoft"
    name: ClassVar[str] = "Microsoft Translator"
    max_characters: ClassVar[int] = 10_000
    max_texts: ClassVar[int] = 100

    @property
    def endpoint(self) -> str:
        return self.settings.microsoft_translator_endpoint

    def _headers(self) -> dict[str, str]:
        key = self.settings.microsoft_translator_key
        assert key is not None  # only built when configured
        headers = {
            "Ocp-Apim-Subscription-Key": key.get_secret_value(),
            "Content-Type": "application/json; charset=UTF-8",
            "X-ClientTraceId": str(uuid.uuid4()),
        }
        if self.settings.microsoft_translator_region:
            headers["Ocp-Apim-Subscription-Region"] = self.settings.microsoft_translator_region
        return headers

    async def translate(self, texts: Sequence[str], source: str | None, target: str) -> list[Translated]:
        params = {"api-version": API_VERSION, "to": target, "textType": "html"}
        if source is not None:
            params["from"] = source
        headers = self._headers()
        response = await self.call(
            "POST",
            f"{self.endpoint}/translate",
            params=params,
            headers=headers,
            json=[{"Text": text} for text in texts],
        )
        log.debug(
            "microsoft_translated",
            client_trace_id=headers["X-ClientTraceId"],
            request_id=response.headers.get("x-requestid"),
            billed_characters=response.headers.get("x-metered-usage"),
        )
        return self._translations(self.json(response), len(texts))

    def _translations(self, body: Any, expected: int) -> list[Translated]:
        if not isinstance(body, list) or len(body) != expected:
            raise self.bad_response("a translation list that does not match the texts sent")
        out = []
        for item in body:
            try:
                text = item["translations"][0]["text"]
                detected = item.get("detectedLanguage")
                language = detected.get("language") if isinstance(detected, dict) else None
            except (KeyError, IndexError, TypeError, AttributeError):
                raise self.bad_response("a translation without text") from None
            if not isinstance(text, str):
                raise self.bad_response("a translation without text")
            out.append(Translated(text, language if isinstance(language, str) else None))
        return out

    async def languages(self) -> LanguagePairs:
        response = await self.call(
            "GET", f"{self.endpoint}/languages", params={"api-version": API_VERSION, "scope": "translation"}
        )
        body = self.json(response)
        listed = body.get("translation") if isinstance(body, dict) else None
        if not isinstance(listed, dict) or not listed:
            raise self.bad_response("a language list without translation languages")
        codes = sorted(code for code in listed if isinstance(code, str))
        pairs: dict[str | None, list[str]] = {code: [c for c in codes if c != code] for code in codes}
        pairs[None] = codes
        return LanguagePairs(pairs)

    def error_for(self, response: httpx.Response) -> ProviderError:
        code = _error_code(response)
        family = code // 1000 if code else response.status_code
        if family == 401 or code == 403000:
            return ProviderCredentialsRejected(
                f"The translation provider ({self.name}) rejected the configured key"
                " (check MICROSOFT_TRANSLATOR_KEY and MICROSOFT_TRANSLATOR_REGION)"
            )
        if code == 403001 or family == 403:
            return ProviderQuotaExceeded(f"The translation provider's quota ({self.name}) is used up for now")
        if code in LANGUAGE_ERRORS:
            return ProviderRefusedLanguage(
                f"The translation provider ({self.name}) can't translate between these languages"
            )
        if response.status_code >= 500 or family in (408, 500, 503):
            return self.unavailable(response)
        return ProviderBadResponse(
            f"The translation provider ({self.name}) refused the request"
            f" (error {code or response.status_code})"
        )


def _error_code(response: httpx.Response) -> int | None:
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, int) else None
