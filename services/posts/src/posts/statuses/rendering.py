"""Status, StatusEdit and Account JSON as Mastodon 4.3 serves them, from the rows of
`repository.renderable` (no query of its own), through the shared Status entity
(`microblog_common.mastodon.statuses`) that the search and notify services render too."""

from __future__ import annotations

from typing import Any

import orjson

from microblog_common.cache import BoundedCache
from microblog_common.mastodon.accounts import AccountEntity, ProfileField, public_created_at
from microblog_common.mastodon.statuses import StatusCounts, iso, status_entity
from microblog_common.urls import PublicUrls
from posts.models import Account, StatusEdit
from posts.statuses.repository import ACCOUNT_NAMES, ACCOUNT_SLICE, StatusRow, as_account


def account_values(account: Account) -> dict[str, Any]:
    """An Account row (ORM object) as the mapping `account_json` reads."""
    return {name: getattr(account, name) for name in ACCOUNT_NAMES}


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
    row: StatusRow,
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


def edit_json(edit: StatusEdit | StatusRow, account: dict[str, Any]) -> dict[str, Any]:
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


# -- pages as bytes, from cached pieces -------------------------------------------------------
#
# A status renders the same for every viewer but for the viewer's own flags, so its JSON is kept
# in pieces (bounded, in process): what comes before the flags, what comes after them up to the
# author, and the rest; the author's Account JSON is kept apart, as several statuses share it.
# Each piece is kept with a stamp of what it was rendered from, read from the row being rendered:
# a status's version (every edit) and its counts, an account's every column. A row whose stamp
# differs (an edit, a favourite, a follower more) is rendered again, so a cache can never answer
# with stale JSON, whichever replica changed the row. The viewer's flags are never cached.

_HEAD_END = "edited_at"  # the viewer's flags come after it
_AUTHOR_KEY = "account"
_VIEWER_DEFAULTS = b',"reblogged":false,"muted":false,"bookmarked":false'
_STAMPED = ("version", "replies_count", "reblogs_count", "favourites_count", "edited_at")


class RenderCache:
    """Rendered pieces of statuses (by id) and accounts (by id), each with the stamp it was
    rendered from."""

    def __init__(self, statuses: int, accounts: int):
        self.statuses: BoundedCache[int, tuple[tuple[Any, ...], bytes, bytes, bytes]] = BoundedCache(statuses)
        self.accounts: BoundedCache[int, tuple[tuple[Any, ...], bytes]] = BoundedCache(accounts)

    def account(self, row: StatusRow, urls: PublicUrls) -> bytes:
        stamp = tuple(row[ACCOUNT_SLICE])
        cached = self.accounts.get(row.author_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        rendered = orjson.dumps(account_json(as_account(row), urls))
        self.accounts.put(row.author_id, (stamp, rendered))
        return rendered

    def pieces(self, row: StatusRow, urls: PublicUrls) -> tuple[bytes, bytes, bytes]:
        """`{..."edited_at":...`, `,"content":...,"account":`, `,"media_attachments":...`."""
        stamp = tuple(getattr(row, name) for name in _STAMPED)
        cached = self.statuses.get(row.id)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2], cached[3]
        # The author's JSON goes in apart: the status needs only its username (its URLs).
        author = {"id": row.author_id, "username": row.author_username}
        body = status_json(row, None, urls, rendered_accounts={row.author_id: author})
        keys = list(body)
        split, author_at = keys.index(_HEAD_END) + 1, keys.index(_AUTHOR_KEY)
        head = orjson.dumps({k: body[k] for k in keys[:split]})[:-1]
        middle = b"," + orjson.dumps({k: body[k] for k in keys[split:author_at]})[1:-1] + b',"account":'
        tail = b"," + orjson.dumps({k: body[k] for k in keys[author_at + 1 :]})[1:]
        self.statuses.put(row.id, (stamp, head, middle, tail))
        return head, middle, tail

    def status(self, row: StatusRow, viewer_id: int | None, urls: PublicUrls) -> bytes:
        """The same JSON as `status_json(row, viewer_id, urls)`, as bytes."""
        head, middle, tail = self.pieces(row, urls)
        account = self.account(row, urls)
        if viewer_id is None:
            return head + middle + account + tail
        flags = b',"favourited":true' if row.favourited else b',"favourited":false'
        flags += _VIEWER_DEFAULTS
        if row.account_id == viewer_id and row.visibility != "direct":
            flags += b',"pinned":false'
        return head + flags + middle + account + tail[:-1] + b',"filtered":[]}'

    def page(self, rows: list[StatusRow], viewer_id: int | None, urls: PublicUrls) -> bytes:
        return b"[" + b",".join(self.status(row, viewer_id, urls) for row in rows) + b"]"
