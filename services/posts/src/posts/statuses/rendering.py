"""Status, StatusEdit and Account JSON as Mastodon 4.3 serves them, from the rows of
`queries.renderable` (no query of its own), through the shared Status entity
(`microblog_common.mastodon.statuses`) that the search and notify services render too."""

from __future__ import annotations

from typing import Any

from microblog_common.mastodon.accounts import AccountEntity, ProfileField, public_created_at
from microblog_common.mastodon.statuses import StatusCounts, iso, status_entity
from microblog_common.urls import PublicUrls
from posts.statuses.queries import accounts, as_account


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
    return status_entity(
        status_id=row.id,
        created_at=row.created_at,
        in_reply_to_id=row.in_reply_to_id,
        in_reply_to_account_id=row.in_reply_to_account_id,
        sensitive=row.sensitive,
        spoiler_text=row.spoiler_text,
        visibility=row.visibility,
        language=row.language,
        uri=urls.status_uri(username, row.id),
        url=urls.status(username, row.id),
        edited_at=row.edited_at,
        content=row.content,
        account=author,
        mentions=row.mentions,
        tags=row.tags,
        urls=urls,
        counts=StatusCounts(row.replies_count, row.reblogs_count, row.favourites_count),
        viewer_id=viewer_id,
        favourited=bool(row.favourited) if viewer_id is not None else False,
        text=row.text if with_source else None,
    )


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
