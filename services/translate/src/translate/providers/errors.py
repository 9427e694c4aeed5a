"""What can go wrong at a translation provider, as the API reports it: each failure is a 503 that
says which (the provider's fault or the operator's, never the client's), except a language pair
the provider refuses, which is the client's choice (422)."""

from __future__ import annotations


class ProviderError(Exception):
    """The provider could not translate. `message` is shown to the client."""

    status_code = 503

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class ProviderUnavailable(ProviderError):
    """Down, too slow, or answering 5xx even after the retries."""


class ProviderRateLimited(ProviderError):
    """It kept answering 429 (too many requests) through the retries."""


class ProviderQuotaExceeded(ProviderError):
    """The account's character quota is used up (Microsoft 403001, DeepL 456)."""


class ProviderCredentialsRejected(ProviderError):
    """The configured key is wrong, missing a region, or not allowed (Microsoft 401xxx, DeepL 403,
    LibreTranslate's "Invalid API key")."""


class ProviderBadResponse(ProviderError):
    """An answer outside the provider's documented contract, or an error the service can't act on."""


class ProviderRefusedLanguage(ProviderError):
    """The provider refuses the language pair although its language list offered it."""

    status_code = 422
