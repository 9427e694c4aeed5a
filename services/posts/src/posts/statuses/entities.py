"""The entities the posts service answers with, as pydantic models: what its OpenAPI document says
each endpoint returns (the JSON itself is built by `rendering.py` for speed; the schema fuzzer holds
the two together). Mastodon 4.3's StatusEdit, StatusSource, Context and ScheduledStatus; the Status
is the shared one (`microblog_common.mastodon.statuses.StatusEntity`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from microblog_common.mastodon.accounts import AccountEntity
from microblog_common.mastodon.statuses import StatusEntity

__all__ = ["ContextEntity", "ScheduledStatusEntity", "StatusEditEntity", "StatusEntity", "StatusSourceEntity"]


class StatusEditEntity(BaseModel):
    content: str
    spoiler_text: str
    sensitive: bool
    created_at: datetime
    account: AccountEntity
    media_attachments: list[Any]
    emojis: list[Any]


class StatusSourceEntity(BaseModel):
    id: str
    text: str
    spoiler_text: str


class ContextEntity(BaseModel):
    ancestors: list[StatusEntity]
    descendants: list[StatusEntity]


class ScheduledStatusEntity(BaseModel):
    id: str
    scheduled_at: datetime
    # Mastodon's creation parameters (`text`, `visibility`, `application_id` as a number, ...).
    params: dict[str, Any]
    media_attachments: list[Any]
