"""The forms of the status endpoints, read as Rails reads them (JSON, form-encoded or multipart;
numbers and booleans may come as strings). The service checks the values and answers in
Mastodon's error format, so everything here is optional and loosely typed."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip() == "" else value


FormBool = Annotated[bool | None, BeforeValidator(_blank_to_none)]
FormText = Annotated[str | None, BeforeValidator(_blank_to_none)]


def _as_list(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, dict):  # media_ids[0]=1
        return list(value.values())
    return value if isinstance(value, list) else [value]


class StatusForm(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    status: str | None = None
    in_reply_to_id: FormText = None
    visibility: FormText = None
    spoiler_text: str | None = None
    sensitive: FormBool = None
    language: FormText = None
    scheduled_at: FormText = None
    media_ids: Annotated[list[str] | None, BeforeValidator(_as_list)] = None
    poll: Any = None


class EditForm(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    status: str | None = None
    spoiler_text: str | None = None
    sensitive: FormBool = None
    language: FormText = None
    media_ids: Annotated[list[str] | None, BeforeValidator(_as_list)] = None
    poll: Any = None
