"""The entities the posts service answers with, as pydantic models: what its OpenAPI document says
each endpoint returns (the JSON itself is built by `rendering.py` for speed; the schema tests hold
the two together). Mastodon 4.3's Status, StatusEdit, StatusSource, Context and ScheduledStatus."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from microblog_common.mastodon.accounts import AccountEntity


class MentionEntity(BaseModel):
    id: str
    username: str
    acct: str
    url: str


class TagEntity(BaseModel):
    name: str
    url: str


class QuoteApproval(BaseModel):
    automatic: list[str]
    manual: list[str]
    current_user: str


class StatusEntity(BaseModel):
    id: str
    created_at: datetime
    in_reply_to_id: str | None
    in_reply_to_account_id: str | None
    sensitive: bool
    spoiler_text: str
    visibility: str
    language: str | None
    uri: str
    url: str | None
    replies_count: int
    reblogs_count: int
    favourites_count: int
    quotes_count: int
    edited_at: datetime | None
    # Only for a signed-in viewer (`pinned` only on the viewer's own pinnable posts).
    favourited: bool | None = None
    reblogged: bool | None = None
    muted: bool | None = None
    bookmarked: bool | None = None
    pinned: bool | None = None
    filtered: list[Any] | None = None
    content: str
    # The source text: only in the answer to a delete (for delete-and-redraft).
    text: str | None
    reblog: None
    application: dict[str, Any] | None
    account: AccountEntity
    media_attachments: list[Any]
    mentions: list[MentionEntity]
    tags: list[TagEntity]
    emojis: list[Any]
    card: None
    poll: None
    quote: None
    quote_approval: QuoteApproval


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
