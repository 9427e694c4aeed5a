"""The Account entity, every field Mastodon 4.3 serves, for each service that renders accounts
(the users service from its own tables, the posts service from its replica of them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel


class ProfileField(BaseModel):
    name: str
    value: str  # HTML
    verified_at: datetime | None = None


class AccountEntity(BaseModel):
    id: str
    username: str
    acct: str
    display_name: str
    locked: bool
    bot: bool
    discoverable: bool | None
    indexable: bool
    group: bool = False
    created_at: datetime
    note: str
    url: str
    uri: str
    avatar: str
    avatar_static: str
    header: str
    header_static: str
    followers_count: int
    following_count: int
    statuses_count: int
    last_status_at: date | None
    hide_collections: bool
    noindex: bool = False
    emojis: list[Any] = []
    roles: list[Any] = []
    fields: list[ProfileField]
    moved: None = None
    memorial: bool = False
    suspended: bool = False
    limited: bool = False


def public_created_at(moment: datetime) -> datetime:
    """Mastodon rounds an account's creation time down to the day (less to learn about a person)."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
