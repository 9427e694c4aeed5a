"""The Account and CredentialAccount entities (every field Mastodon 4.3 serves; the fields shared
with the posts service's rendering in `microblog_common.mastodon.accounts`), and the forms."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import UploadFile
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from microblog_common.mastodon.accounts import AccountEntity as SharedAccountEntity
from microblog_common.mastodon.accounts import ProfileField, public_created_at
from microblog_common.text import Text
from microblog_common.urls import PublicUrls
from users.accounts.rendering import field_value_html
from users.models import Account


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip() == "" else value


# Form values arrive as strings; Rails treats an empty one as "not given".
FormBool = Annotated[bool | None, BeforeValidator(_blank_to_none)]

MAX_FIELDS = 4
LANGUAGE_CODE = r"^[a-z]{2,3}$"


class Role(BaseModel):
    id: str = "-99"
    name: str = ""
    permissions: str = "65536"
    color: str = ""
    highlighted: bool = False


class AccountEntity(SharedAccountEntity):
    @classmethod
    def of(cls, account: Account, urls: PublicUrls) -> AccountEntity:
        return cls(**account_values(account, urls))


class Source(BaseModel):
    note: str
    fields: list[ProfileField]
    privacy: str
    sensitive: bool
    language: str
    follow_requests_count: int = 0
    hide_collections: bool
    discoverable: bool | None
    indexable: bool
    attribution_domains: list[str] = []


class CredentialAccountEntity(AccountEntity):
    source: Source
    role: Role = Role()

    @classmethod
    def of(cls, account: Account, urls: PublicUrls) -> CredentialAccountEntity:
        source = Source(
            note=account.note,
            fields=[ProfileField(name=f["name"], value=f["value"]) for f in account.fields],
            privacy=account.default_privacy,
            sensitive=account.default_sensitive,
            language=account.default_language,
            hide_collections=account.hide_collections,
            discoverable=account.discoverable,
            indexable=account.indexable,
        )
        return cls(**account_values(account, urls), source=source)


def pictures(account: Account, urls: PublicUrls) -> dict[str, str]:
    """The uploaded avatar and header (with their stills), or the default ones."""
    avatar = urls.media(account.avatar_key) if account.avatar_key else urls.avatar(account.id)
    header = urls.media(account.header_key) if account.header_key else urls.header()
    return {
        "avatar": avatar,
        "avatar_static": urls.media(account.avatar_static_key) if account.avatar_static_key else avatar,
        "header": header,
        "header_static": urls.media(account.header_static_key) if account.header_static_key else header,
    }


def account_values(account: Account, urls: PublicUrls) -> dict[str, Any]:
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": account.username,
        "display_name": account.display_name,
        "locked": account.locked,
        "bot": account.bot,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "created_at": public_created_at(account.created_at),
        "note": account.note_html,
        "url": urls.profile(account.username),
        "uri": urls.actor(account.username),
        **pictures(account, urls),
        "followers_count": account.followers_count,
        "following_count": account.following_count,
        "statuses_count": account.statuses_count,
        "last_status_at": account.last_status_at.date() if account.last_status_at else None,
        "hide_collections": account.hide_collections,
        "fields": [ProfileField(name=f["name"], value=field_value_html(f["value"])) for f in account.fields],
    }


# -- forms ---------------------------------------------------------------------------------


class RegistrationForm(BaseModel):
    """Checked by the service, which reports every problem at once in Mastodon's format."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    username: Text = ""
    email: Text = ""
    password: Text = ""
    agreement: Text | bool = False
    locale: Text = ""
    reason: Annotated[Text, Field(max_length=1000)] | None = None


class FieldForm(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)

    name: Annotated[Text, Field(max_length=255)] = ""
    value: Annotated[Text, Field(max_length=255)] = ""


class SourceForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    privacy: Annotated[Literal["public", "unlisted", "private"] | None, BeforeValidator(_blank_to_none)] = (
        None
    )
    sensitive: FormBool = None
    language: Annotated[str | None, Field(pattern=r"^([a-z]{2,3})?$")] = None


class UpdateCredentialsForm(BaseModel):
    """`avatar` and `header` are image files (multipart); their checks are `accounts.images`'."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    display_name: Annotated[Text, Field(max_length=30)] | None = None
    note: Annotated[Text, Field(max_length=500)] | None = None
    avatar: UploadFile | None = None
    header: UploadFile | None = None
    locked: FormBool = None
    bot: FormBool = None
    discoverable: FormBool = None
    indexable: FormBool = None
    hide_collections: FormBool = None
    fields_attributes: list[FieldForm] | None = None
    source: SourceForm | None = None

    @field_validator("fields_attributes", mode="before")
    @classmethod
    def _indexed_hash_to_list(cls, value: Any) -> Any:
        """Forms send `fields_attributes[0][name]=...` (a hash keyed by index); JSON sends a list.
        `fields_attributes[]=` (one blank) clears the fields."""
        if isinstance(value, dict):
            value = [
                v for _, v in sorted(value.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else 0)
            ]
        if isinstance(value, list):
            value = [v for v in value if isinstance(v, dict)]
            if len(value) > MAX_FIELDS:
                raise ValueError(f"at most {MAX_FIELDS} profile fields")
        return value
