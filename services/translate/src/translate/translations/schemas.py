"""Requests and answers of the translation endpoints: Mastodon's Translation entity (4.2+, every
field), the translate form, and the internal translation state the gateway's instance reads."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class TranslateForm(BaseModel):
    """`POST /api/v1/statuses/:id/translate`: JSON, form-encoded or query, as Mastodon reads it."""

    model_config = ConfigDict(extra="ignore")

    # The length bound sits on the text itself: on `str | None` pydantic would apply it to the None a
    # blank value becomes, a TypeError (500) rather than a validation error (found by the fuzzer).
    lang: Annotated[Annotated[str, Field(max_length=35)] | None, BeforeValidator(_blank_to_none)] = None


class TranslatedPollOption(BaseModel):
    title: str


class TranslatedPoll(BaseModel):
    id: str
    options: list[TranslatedPollOption]


class TranslatedAttachment(BaseModel):
    id: str
    description: str


class Translation(BaseModel):
    """Mastodon's Translation entity. Statuses here have no polls or media: `poll` is null and
    `media_attachments` empty, as Mastodon answers for such a status."""

    detected_source_language: str = Field(
        description="The status's language, or the one the provider detected when it has none (BCP 47)."
    )
    language: str = Field(description="The language translated into (BCP 47).")
    provider: str = Field(
        description="The service that translated: `Microsoft Translator`, `LibreTranslate` or `DeepL.com`."
    )
    spoiler_text: str = Field(description="The content warning, translated (plain text).")
    content: str = Field(
        description="The content, translated (sanitised HTML: links, mentions and hashtags kept)."
    )
    poll: TranslatedPoll | None = None
    media_attachments: list[TranslatedAttachment] = Field(default_factory=list)


class TranslationState(BaseModel):
    """`GET /internal/translation`: whether translation is on, and who translates."""

    enabled: bool
    provider: str | None
