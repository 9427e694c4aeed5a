"""The Status entity as Mastodon 4.3 serves it, for every service that renders statuses: the posts
service from its own rows, the search and notify services from the `post.*` snapshots they keep.
Lists Mastodon has and Microblog doesn't fill (media, emojis) are empty lists; objects it doesn't
support (reblog, card, poll, quote) are null, and the counts of what it doesn't support (reblogs,
quotes) are 0.

The viewer's flags (`favourited`, `reblogged`, `muted`, `bookmarked`, `filtered`, and `pinned` on
their own pinnable posts) appear only when a user is signed in, as on Mastodon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot
from microblog_common.mastodon.accounts import AccountEntity, ProfileField, public_created_at
from microblog_common.urls import PublicUrls


def iso(moment: datetime | None) -> str | None:
    """Mastodon's datetime format: UTC with milliseconds."""
    if moment is None:
        return None
    # An f-string: what strftime("%Y-%m-%dT%H:%M:%S.") wrote, in half the time (two per status).
    return (
        f"{moment.year}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


@dataclass(frozen=True)
class StatusCounts:
    replies: int = 0
    reblogs: int = 0
    favourites: int = 0


@dataclass(frozen=True)
class AccountCounts:
    followers: int = 0
    following: int = 0
    statuses: int = 0
    last_status_at: datetime | None = None


def status_entity(
    *,
    status_id: int | str,
    created_at: datetime,
    in_reply_to_id: int | str | None,
    in_reply_to_account_id: int | str | None,
    sensitive: bool,
    spoiler_text: str,
    visibility: str,
    language: str | None,
    uri: str,
    url: str,
    edited_at: datetime | None,
    content: str,
    account: dict[str, Any],
    mentions: list[dict[str, Any]],
    tags: list[str],
    urls: PublicUrls,
    counts: StatusCounts,
    viewer_id: int | None = None,
    favourited: bool = False,
    text: str | None = None,
) -> dict[str, Any]:
    """The Status JSON; `account` is the rendered author, `text` the source (only when asked for:
    delete-and-redraft, edit)."""
    body: dict[str, Any] = {
        "id": str(status_id),
        "created_at": iso(created_at),
        "in_reply_to_id": str(in_reply_to_id) if in_reply_to_id is not None else None,
        "in_reply_to_account_id": str(in_reply_to_account_id) if in_reply_to_account_id is not None else None,
        "sensitive": sensitive,
        "spoiler_text": spoiler_text,
        "visibility": visibility,
        "language": language,
        "uri": uri,
        "url": url,
        "replies_count": counts.replies,
        "reblogs_count": counts.reblogs,
        "favourites_count": counts.favourites,
        "quotes_count": 0,
        "edited_at": iso(edited_at),
    }
    if viewer_id is not None:
        body |= {"favourited": favourited, "reblogged": False, "muted": False, "bookmarked": False}
        if str(account["id"]) == str(viewer_id) and visibility != "direct":
            body["pinned"] = False
    body |= {
        "content": content,
        "text": text,
        "reblog": None,
        "application": None,
        "account": account,
        "media_attachments": [],
        "mentions": mentions,
        "tags": [{"name": name, "url": urls.tag(name)} for name in tags],
        "emojis": [],
        "card": None,
        "poll": None,
        "quote": None,
        # Mastodon 4.5's quote policy, as for a post nobody may quote (quotes are not supported).
        "quote_approval": {"automatic": [], "manual": [], "current_user": "denied"},
    }
    if viewer_id is not None:
        body["filtered"] = []
    return body


def account_from_snapshot(
    snapshot: AccountSnapshot, urls: PublicUrls, counts: AccountCounts | None = None
) -> dict[str, Any]:
    """The Account JSON from a `user.*` snapshot (which carries no counts: give what you keep)."""
    counts = counts or AccountCounts()
    header_static = getattr(snapshot, "header_static", None) or snapshot.header
    entity = AccountEntity(
        id=snapshot.id,
        username=snapshot.username,
        acct=snapshot.acct,
        display_name=snapshot.display_name,
        locked=snapshot.locked,
        bot=snapshot.bot,
        discoverable=snapshot.discoverable,
        indexable=snapshot.indexable,
        created_at=public_created_at(snapshot.created_at),
        note=snapshot.note,
        url=snapshot.url,
        uri=urls.actor(snapshot.username),
        avatar=snapshot.avatar,
        avatar_static=snapshot.avatar_static,
        header=snapshot.header,
        header_static=header_static,
        followers_count=counts.followers,
        following_count=counts.following,
        statuses_count=counts.statuses,
        last_status_at=counts.last_status_at.date() if counts.last_status_at else None,
        hide_collections=snapshot.hide_collections,
        fields=[ProfileField(name=f.name, value=f.value) for f in snapshot.fields],
    )
    return entity.model_dump(mode="json")


def status_from_snapshot(
    snapshot: StatusSnapshot,
    account: dict[str, Any],
    urls: PublicUrls,
    *,
    counts: StatusCounts | None = None,
    viewer_id: int | None = None,
    favourited: bool = False,
) -> dict[str, Any]:
    """The Status JSON from a `post.*` snapshot and its author's rendered Account."""
    return status_entity(
        status_id=snapshot.id,
        created_at=snapshot.created_at,
        in_reply_to_id=snapshot.in_reply_to_id,
        in_reply_to_account_id=snapshot.in_reply_to_account_id,
        sensitive=snapshot.sensitive,
        spoiler_text=snapshot.spoiler_text,
        visibility=snapshot.visibility,
        language=snapshot.language,
        uri=snapshot.uri,
        url=snapshot.url,
        edited_at=snapshot.edited_at,
        content=snapshot.html,
        account=account,
        mentions=[m.model_dump() for m in snapshot.mentions],
        tags=snapshot.tags,
        urls=urls,
        counts=counts or StatusCounts(),
        viewer_id=viewer_id,
        favourited=favourited,
    )


# -- the Status entity as a model: what OpenAPI documents (`status_entity` builds the JSON) --------


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
    """Mastodon 4.3's Status, as `status_entity` renders it."""

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
