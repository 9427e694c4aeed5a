"""Mastodon's entities from the replica, through the shared renderers
(`microblog_common.mastodon.statuses`): Account, Status, Notification (v1) and the grouped
notifications of v2. A batch is rendered with one query per kind of row, never one per item.

Counts: followers, following and statuses come from the events this service receives (so they
start at what it has seen); `replies_count` and `favourites_count` likewise; reblogs are 0."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot
from microblog_common.mastodon.statuses import (
    AccountCounts,
    StatusCounts,
    account_from_snapshot,
    iso,
    status_from_snapshot,
)
from microblog_common.urls import PublicUrls
from notify.models import Account, Notification, Status
from notify.replica import repository as replica

Json = dict[str, Any]


def render_account(row: Account, urls: PublicUrls) -> Json:
    counts = AccountCounts(
        followers=row.followers_count,
        following=row.following_count,
        statuses=row.statuses_count,
        last_status_at=row.last_status_at,
    )
    return account_from_snapshot(AccountSnapshot.model_validate(row.snapshot), urls, counts)


def accounts_by_id(session: Session, ids: Iterable[int], urls: PublicUrls) -> dict[int, Json]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = replica.accounts(session, wanted)
    return {row.id: render_account(row, urls) for row in rows}


def statuses_by_id(
    session: Session, ids: Iterable[int], viewer_id: int | None, urls: PublicUrls
) -> dict[int, Json]:
    """Statuses with their authors, as `viewer_id` sees them (their `favourited` flag)."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = replica.statuses(session, wanted)
    authors = accounts_by_id(session, {row.account_id for row in rows}, urls)
    favourited = replica.favourited_among(session, viewer_id, wanted) if viewer_id is not None else set()
    rendered: dict[int, Json] = {}
    for row in rows:
        author = authors.get(row.account_id)
        if author is None:
            continue  # the author's account has not reached this replica yet
        rendered[row.id] = render_status(row, author, urls, viewer_id, row.id in favourited)
    return rendered


def render_status(
    row: Status, author: Json, urls: PublicUrls, viewer_id: int | None, favourited: bool
) -> Json:
    return status_from_snapshot(
        StatusSnapshot.model_validate(row.snapshot),
        author,
        urls,
        counts=StatusCounts(replies=row.replies_count, favourites=row.favourites_count),
        viewer_id=viewer_id,
        favourited=favourited,
    )


def notifications(
    session: Session, rows: Sequence[Notification], viewer_id: int, urls: PublicUrls
) -> list[Json]:
    """v1 Notification entities; one whose account or status is not (or no longer) here is left out."""
    accounts = accounts_by_id(session, {n.from_account_id for n in rows}, urls)
    statuses = statuses_by_id(
        session, {n.status_id for n in rows if n.status_id is not None}, viewer_id, urls
    )
    rendered = []
    for n in rows:
        entity = notification_entity(n, accounts, statuses)
        if entity is not None:
            rendered.append(entity)
    return rendered


def notification_entity(n: Notification, accounts: dict[int, Json], statuses: dict[int, Json]) -> Json | None:
    account = accounts.get(n.from_account_id)
    if account is None:
        return None
    body: Json = {
        "id": str(n.id),
        "type": n.type,
        "created_at": iso(n.created_at),
        "group_key": n.group_key,
        "account": account,
    }
    if n.status_id is not None:
        status = statuses.get(n.status_id)
        if status is None:
            return None
        body["status"] = status
    return body
