"""The forms of the status endpoints, read as Rails reads them (JSON, form-encoded or multipart;
numbers and booleans may come as strings). The service checks the values and answers in
Mastodon's error format, so everything here is optional and loosely typed."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from microblog_common.text import Text


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip() == "" else value


FormBool = Annotated[bool | None, BeforeValidator(_blank_to_none)]
# Every text reaches the database or a query: what no column may hold is a 422 (microblog_common.text).
FormText = Annotated[Text | None, BeforeValidator(_blank_to_none)]
# The text of a post and its content warning: their length is counted in graphemes by the service;
# this only bounds what is read at all.
PostText = Annotated[Text, Field(max_length=100_000)]


def _as_list(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, dict):  # media_ids[0]=1
        return list(value.values())
    return value if isinstance(value, list) else [value]


class StatusForm(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    status: PostText | None = None
    in_reply_to_id: FormText = None
    visibility: FormText = None
    spoiler_text: PostText | None = None
    sensitive: FormBool = None
    language: FormText = None
    scheduled_at: FormText = None
    media_ids: Annotated[list[Text] | None, BeforeValidator(_as_list)] = None
    poll: Any = None


class EditForm(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    status: PostText | None = None
    spoiler_text: PostText | None = None
    sensitive: FormBool = None
    language: FormText = None
    media_ids: Annotated[list[Text] | None, BeforeValidator(_as_list)] = None
    poll: Any = None
