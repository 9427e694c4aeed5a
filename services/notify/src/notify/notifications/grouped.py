"""Mastodon 4.3's grouped notifications (`/api/v2/notifications`): the page of groups, their
counts and sample accounts, the accounts and statuses they refer to, each once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from microblog_common.mastodon.statuses import iso
from microblog_common.pagination import Page
from microblog_common.urls import PublicUrls
from notify import rendering
from notify.models import Notification
from notify.notifications import repository
from notify.notifications.repository import Filters
from notify.notifications.service import GROUPABLE_TYPES

EXPAND_ACCOUNTS = ("full", "partial_avatars")
SAMPLE_ACCOUNTS = 8
PARTIAL_ACCOUNT_FIELDS = ("id", "acct", "locked", "bot", "url", "avatar", "avatar_static")
_GROUP_KEY = re.compile(r"(favourite-[0-9]{1,19}-[0-9]{1,12}|follow-[0-9]{1,12}|ungrouped-[0-9]{1,19})")

Json = dict[str, Any]


def grouped_types_of(values: list[str] | None) -> tuple[str, ...]:
    """`grouped_types[]`: which groupable types are grouped (all of them by default)."""
    if not values:
        return GROUPABLE_TYPES
    return tuple(t for t in GROUPABLE_TYPES if t in values)


def valid_group_key(key: str) -> bool:
    return _GROUP_KEY.fullmatch(key) is not None


@dataclass(frozen=True)
class GroupedPage:
    body: Json
    cursors: list[int]  # the page's notifications' ids, newest first (for the Link header)


def page(
    session: Session,
    urls: PublicUrls,
    viewer_id: int,
    page: Page,
    filters: Filters,
    grouped_types: Sequence[str],
    *,
    partial_avatars: bool,
) -> GroupedPage:
    picked = repository.group_page(session, viewer_id, page, filters, grouped_types)
    if not picked:
        return GroupedPage({"accounts": [], "statuses": [], "notification_groups": []}, [])
    upper, lower = picked[0].id, picked[-1].id
    grouped_keys = [n.group_key for n in picked if n.type in grouped_types]
    data = repository.groups_data(session, viewer_id, grouped_keys, upper, lower, SAMPLE_ACCOUNTS)
    groups: list[tuple[Notification, Json, list[int]]] = []
    for n in picked:
        if n.type in grouped_types and n.group_key in data:
            d = data[n.group_key]
            group: Json = {
                "group_key": n.group_key,
                "notifications_count": d.notifications_count,
                "type": n.type,
                "most_recent_notification_id": d.most_recent_notification_id,
                "page_min_id": str(d.page_min_id),
                "page_max_id": str(d.page_max_id),
                "latest_page_notification_at": iso(d.latest_at),
                "sample_account_ids": [str(i) for i in d.sample_account_ids],
            }
            samples = d.sample_account_ids
        else:
            group = {
                "group_key": f"ungrouped-{n.id}",
                "notifications_count": 1,
                "type": n.type,
                "most_recent_notification_id": n.id,
                "page_min_id": str(n.id),
                "page_max_id": str(n.id),
                "latest_page_notification_at": iso(n.created_at),
                "sample_account_ids": [str(n.from_account_id)],
            }
            samples = [n.from_account_id]
        if n.status_id is not None:
            group["status_id"] = str(n.status_id)
        groups.append((n, group, samples))
    return GroupedPage(_body(session, urls, viewer_id, groups, partial_avatars), [n.id for n in picked])


def _body(
    session: Session,
    urls: PublicUrls,
    viewer_id: int,
    groups: list[tuple[Notification, Json, list[int]]],
    partial_avatars: bool,
) -> Json:
    """Mastodon's GroupedNotificationsPresenter: every account and status once. With
    `partial_avatars`, only each group's first sample is a full account; the others are partial."""
    all_ids = {i for _, _, samples in groups for i in samples}
    accounts = rendering.accounts_by_id(session, all_ids, urls)
    status_ids = {n.status_id for n, _, _ in groups if n.status_id is not None}
    statuses = rendering.statuses_by_id(session, status_ids, viewer_id, urls)
    full: list[int] = []
    partial: list[int] = []
    kept_groups: list[Json] = []
    for n, group, samples in groups:
        if n.status_id is not None and n.status_id not in statuses:
            continue
        present = [i for i in samples if i in accounts]
        if not present:
            continue
        group["sample_account_ids"] = [str(i) for i in present]
        kept_groups.append(group)
        wanted_full = present[:1] if partial_avatars else present
        for i in wanted_full:
            if i not in full:
                full.append(i)
        for i in present[1:] if partial_avatars else ():
            if i not in partial:
                partial.append(i)
    body: Json = {
        "accounts": [accounts[i] for i in full],
        "statuses": [statuses[s] for s in dict.fromkeys(n.status_id for n, _, _ in groups) if s in statuses],
        "notification_groups": kept_groups,
    }
    if partial_avatars:
        body["partial_accounts"] = [
            {k: accounts[i][k] for k in PARTIAL_ACCOUNT_FIELDS} for i in partial if i not in full
        ]
    return body


def one_group(session: Session, urls: PublicUrls, viewer_id: int, group_key: str) -> Json | None:
    """`GET /api/v2/notifications/:group_key`: that group alone, in the same shape."""
    if not valid_group_key(group_key):
        return None
    members = repository.group_members(session, viewer_id, group_key)
    if not members:
        return None
    newest = members[0]
    samples: list[int] = []
    for m in members:
        if m.from_account_id not in samples and len(samples) < SAMPLE_ACCOUNTS:
            samples.append(m.from_account_id)
    group: Json = {
        "group_key": group_key,
        "notifications_count": len(members),
        "type": newest.type,
        "most_recent_notification_id": newest.id,
        "sample_account_ids": [str(i) for i in samples],
    }
    if newest.status_id is not None:
        group["status_id"] = str(newest.status_id)
    return _body(session, urls, viewer_id, [(newest, group, samples)], partial_avatars=False)
