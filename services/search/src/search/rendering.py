"""Search results as Mastodon's entities, from the replica: Status and Account through the shared
renderers (`microblog_common.mastodon`), Tag with its week of history. No query of its own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot
from microblog_common.mastodon.statuses import (
    AccountCounts,
    StatusCounts,
    account_from_snapshot,
    status_from_snapshot,
)
from microblog_common.urls import PublicUrls
from search.models import Account
from search.repository import StatusToRender, TagDay

HISTORY_DAYS = 7


def account_json(account: Account, urls: PublicUrls) -> dict[str, Any]:
    return author_json(
        account.snapshot,
        AccountCounts(
            followers=account.followers_count,
            following=account.following_count,
            statuses=account.statuses_count,
            last_status_at=account.last_status_at,
        ),
        urls,
    )


def author_json(snapshot: dict[str, Any], counts: AccountCounts, urls: PublicUrls) -> dict[str, Any]:
    return account_from_snapshot(AccountSnapshot.model_validate(snapshot), urls, counts)


def status_json(
    row: StatusToRender,
    author: dict[str, Any],
    urls: PublicUrls,
    viewer_id: int | None,
    highlight: str | None,
) -> dict[str, Any]:
    body = status_from_snapshot(
        StatusSnapshot.model_validate(row.snapshot),
        author,
        urls,
        counts=StatusCounts(favourites=row.favourites_count),
        viewer_id=viewer_id,
        favourited=bool(row.favourited),
    )
    if highlight is not None:
        body["highlight"] = highlight  # an extension: clients that don't know it ignore it
    return body


def history_start(today: date | None = None) -> date:
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=HISTORY_DAYS - 1)


def tag_json(name: str, days: list[TagDay], urls: PublicUrls, viewer_id: int | None) -> dict[str, Any]:
    """Mastodon's Tag: `history` is the last seven days, newest first, counts as strings."""
    by_day = {d.day: d for d in days if d.name == name}
    today = datetime.now(UTC).date()
    history = []
    for back in range(HISTORY_DAYS):
        day = today - timedelta(days=back)
        entry = by_day.get(day)
        history.append(
            {
                "day": str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())),
                "uses": str(entry.uses if entry else 0),
                "accounts": str(entry.accounts if entry else 0),
            }
        )
    body: dict[str, Any] = {"name": name, "url": urls.tag(name), "history": history}
    if viewer_id is not None:
        body["following"] = False
    return body
