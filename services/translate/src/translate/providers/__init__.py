"""The translation providers: one adapter per provider's documented HTTP API, behind one interface
(`base.Provider`)."""

from __future__ import annotations

from translate.providers.base import LanguagePairs, Provider, Translated
from translate.providers.deepl import DeepL
from translate.providers.libretranslate import LibreTranslate
from translate.providers.microsoft import MicrosoftTranslator
from translate.settings import Settings

ADAPTERS: dict[str, type[Provider]] = {
    MicrosoftTranslator.key: MicrosoftTranslator,
    LibreTranslate.key: LibreTranslate,
    DeepL.key: DeepL,
}

__all__ = ["LanguagePairs", "Provider", "Translated", "build_provider"]


def build_provider(settings: Settings) -> Provider | None:
    """The provider that serves, or None when none is configured (translation is off). No I/O."""
    name = settings.provider
    return ADAPTERS[name](settings) if name is not None else None
