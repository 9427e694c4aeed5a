from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from microblog_common.text import Text
from users.accounts.schemas import FormBool


class RelationshipEntity(BaseModel):
    """Mastodon's Relationship. Blocks, mutes, endorsements and notes don't exist here (yet):
    always false / empty."""

    id: str
    following: bool = False
    showing_reblogs: bool = False
    notifying: bool = False
    languages: list[str] | None = None
    followed_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False
    muting_notifications: bool = False
    requested: bool = False
    requested_by: bool = False
    domain_blocking: bool = False
    endorsed: bool = False
    note: str = ""


class FollowForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reblogs: FormBool = None
    notify: FormBool = None
    languages: list[Annotated[Text, Field(max_length=16)]] | None = None

    @field_validator("languages", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        """`languages[]=en` (a list), `languages=en` or JSON. Blank entries are dropped, so
        `languages[]=` (what a form sends for "no filter") gives [], which clears the filter."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return value
