"""Settings of the translate service, read from environment variables.

Translation is on when a provider is configured: Microsoft Translator (a key), LibreTranslate (a
URL) or DeepL (a key). The first configured one in that order serves, unless
`TRANSLATION_PROVIDER` names one, which must then be configured: a deploy that asks for a
provider it can't reach fails at start-up instead of quietly translating nothing."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from microblog_common.settings import ServiceSettings

ProviderName = Literal["microsoft", "libretranslate", "deepl"]
# The order in which configured providers are picked when TRANSLATION_PROVIDER is not set.
PROVIDER_ORDER: tuple[ProviderName, ...] = ("microsoft", "libretranslate", "deepl")
MICROSOFT_GLOBAL_ENDPOINT = "https://api.cognitive.microsofttranslator.com"
DEEPL_PRO_URL = "https://api.deepl.com"
DEEPL_FREE_URL = "https://api-free.deepl.com"
# DeepL's Free API keys end with this; they only work on the free host.
DEEPL_FREE_KEY_SUFFIX = ":fx"

_OPTIONAL_TEXT = (
    "translation_provider",
    "microsoft_translator_key",
    "microsoft_translator_region",
    "libretranslate_url",
    "libretranslate_api_key",
    "deepl_api_key",
    "deepl_api_url",
    "translation_max_characters",
)
_URLS = ("microsoft_translator_endpoint", "libretranslate_url", "deepl_api_url")


class Settings(ServiceSettings):
    service_name: str = "translate"

    # Which provider serves; unset: the first configured one of PROVIDER_ORDER.
    translation_provider: ProviderName | None = None
    microsoft_translator_key: SecretStr | None = None
    # The Azure region of a regional or multi-service Translator resource (sent as
    # Ocp-Apim-Subscription-Region); not needed for a global resource.
    microsoft_translator_region: str | None = None
    microsoft_translator_endpoint: str = MICROSOFT_GLOBAL_ENDPOINT
    libretranslate_url: str | None = None
    libretranslate_api_key: SecretStr | None = None
    deepl_api_key: SecretStr | None = None
    # Unset: DeepL's free host for a free key (ending in ":fx"), its pro host otherwise.
    deepl_api_url: str | None = None

    # The whole time one translation may spend on the provider, retries and back-off included:
    # the client gets its answer (or a 503) within this.
    translation_timeout_seconds: float = Field(10.0, gt=0)
    # Further attempts after a 429, a 5xx or a failed connection, with jittered exponential back-off.
    translation_retries: int = Field(2, ge=0, le=10)
    translation_retry_initial_seconds: float = Field(0.2, ge=0)
    translation_retry_max_seconds: float = Field(2.0, ge=0)
    # Characters per provider request (texts longer are split at sentence boundaries); unset: the
    # provider's documented limit.
    translation_max_characters: int | None = Field(None, ge=50)

    # How long a translation is served from the cache, and how long the provider's language list is.
    translation_cache_seconds: float = Field(86400.0, gt=0)
    translation_languages_cache_seconds: float = Field(86400.0, gt=0)
    # After a failed fetch of the language list, how long requests are answered 503 at once
    # (instead of each waiting for the provider again) when no earlier list is at hand.
    translation_languages_retry_seconds: float = Field(30.0, ge=0)

    # Translations that reach the provider (cache hits don't count), per account per window.
    translation_rate_limit: int = Field(60, ge=1)
    translation_rate_limit_window_seconds: int = Field(3600, ge=1)
    # How often expired cache entries and old rate-limit windows are deleted.
    translation_cleanup_interval_seconds: float = Field(600.0, gt=0)

    @field_validator(*_OPTIONAL_TEXT, mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # Compose files and dashboards pass unset variables as empty strings.
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator(*_URLS)
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _chosen_provider_is_configured(self) -> Settings:
        if self.translation_provider is not None and not self.provider_configured(self.translation_provider):
            needs = {
                "microsoft": "MICROSOFT_TRANSLATOR_KEY",
                "libretranslate": "LIBRETRANSLATE_URL",
                "deepl": "DEEPL_API_KEY",
            }[self.translation_provider]
            raise ValueError(f"TRANSLATION_PROVIDER={self.translation_provider} needs {needs}")
        return self

    def provider_configured(self, name: ProviderName) -> bool:
        if name == "microsoft":
            return self.microsoft_translator_key is not None
        if name == "libretranslate":
            return self.libretranslate_url is not None
        return self.deepl_api_key is not None

    @property
    def provider(self) -> ProviderName | None:
        """The provider that serves, or None: translation is off."""
        if self.translation_provider is not None:
            return self.translation_provider
        return next((name for name in PROVIDER_ORDER if self.provider_configured(name)), None)

    @property
    def deepl_base_url(self) -> str:
        if self.deepl_api_url is not None:
            return self.deepl_api_url
        key = self.deepl_api_key.get_secret_value() if self.deepl_api_key else ""
        return DEEPL_FREE_URL if key.endswith(DEEPL_FREE_KEY_SUFFIX) else DEEPL_PRO_URL
