"""Status, StatusEdit and Account JSON as Mastodon 4.3 serves them, from the rows of
`queries.renderable` (no query of its own). Lists Mastodon has and this service doesn't fill
(media, emojis) are empty lists; objects it doesn't support (reblog, card, poll, quote) are null,
and the counts of what it doesn't support (reblogs, quotes) are 0.

The viewer's flags (`favourited`, `reblogged`, `muted`, `bookmarked`, `filtered`, and `pinned` on
their own pinnable posts) appear only when a user is signed in, as on Mastodon."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from microblog_common.mastodon.accounts import AccountEntity, ProfileField, public_created_at
from microblog_common.urls import PublicUrls
from posts.statuses.queries import accounts, as_account


def iso(moment: datetime | None) -> str | None:
    """Mastodon's datetime format: UTC with milliseconds."""
    if moment is None:
        return None
    # An f-string: what strftime("%Y-%m-%dT%H:%M:%S.") wrote, in half the time (two per status).
    return (
        f"{moment.year}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def account_values(account: Any) -> dict[str, Any]:
    """An Account row (ORM object) as the mapping `account_json` reads."""
    return {column.name: getattr(account, column.name) for column in accounts.c}


def account_json(account: dict[str, Any], urls: PublicUrls) -> dict[str, Any]:
    entity = AccountEntity(
        id=str(account["id"]),
        username=account["username"],
        acct=account["acct"],
        display_name=account["display_name"],
        locked=account["locked"],
        bot=account["bot"],
        discoverable=account["discoverable"],
        indexable=account["indexable"],
        created_at=public_created_at(account["created_at"]),
        note=account["note"],
        url=account["url"],
        uri=urls.actor(account["username"]),
        avatar=account["avatar"],
        avatar_static=account["avatar_static"],
        header=account["header"],
        header_static=account["header_static"] or account["header"],
        followers_count=account["followers_count"],
        following_count=account["following_count"],
        statuses_count=account["statuses_count"],
        last_status_at=account["last_status_at"].date() if account["last_status_at"] else None,
        hide_collections=account["hide_collections"],
        fields=[ProfileField(name=f["name"], value=f["value"]) for f in account["fields"]],
    )
    return entity.model_dump(mode="json")


def status_json(
    row: Any,
    viewer_id: int | None,
    urls: PublicUrls,
    *,
    with_source: bool = False,
    rendered_accounts: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`rendered_accounts`, shared by the statuses of one result, renders each author once: their
    rows all carry the same account columns, and the Account entity (a pydantic model, validated
    then dumped) costs about as much as the rest of the status."""
    author = rendered_accounts.get(row.author_id) if rendered_accounts is not None else None
    if author is None:
        author = account_json(as_account(row), urls)
        if rendered_accounts is not None:
            rendered_accounts[row.author_id] = author
    username = author["username"]
    body: dict[str, Any] = {
        "id": str(row.id),
        "created_at": iso(row.created_at),
        "in_reply_to_id": str(row.in_reply_to_id) if row.in_reply_to_id is not None else None,
        "in_reply_to_account_id": (
            str(row.in_reply_to_account_id) if row.in_reply_to_account_id is not None else None
        ),
        "sensitive": row.sensitive,
        "spoiler_text": row.spoiler_text,
        "visibility": row.visibility,
        "language": row.language,
        "uri": urls.status_uri(username, row.id),
        "url": urls.status(username, row.id),
        "replies_count": row.replies_count,
        "reblogs_count": row.reblogs_count,
        "favourites_count": row.favourites_count,
        "quotes_count": 0,
        "edited_at": iso(row.edited_at),
    }
    if viewer_id is not None:
        body |= {"favourited": bool(row.favourited), "reblogged": False, "muted": False, "bookmarked": False}
        if row.account_id == viewer_id and row.visibility != "direct":
            body["pinned"] = False
    body |= {
        "content": row.content,
        "text": row.text if with_source else None,
        "reblog": None,
        "application": None,
        "account": author,
        "media_attachments": [],
        "mentions": row.mentions,
        "tags": [{"name": name, "url": urls.tag(name)} for name in row.tags],
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


def edit_json(edit: Any, account: dict[str, Any]) -> dict[str, Any]:
    """One revision (a StatusEdit row, or a status never edited); `account` is the rendered author."""
    return {
        "content": edit.content,
        "spoiler_text": edit.spoiler_text,
        "sensitive": edit.sensitive,
        "created_at": iso(edit.created_at),
        "account": account,
        "media_attachments": [],
        "emojis": [],
    }
