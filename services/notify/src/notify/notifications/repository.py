"""Every query over notifications. Lists walk the recipient's range of `(account_id, id)`; nothing
runs a query per notification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Executable, String, and_, case, cast, delete, func, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from microblog_common.pagination import Page
from microblog_common.sql import affected_rows, dialect_insert
from notify.models import Account, Marker, Notification

NOTIFICATIONS_TIMELINE = "notifications"


@dataclass(frozen=True)
class Filters:
    """`types[]`, `exclude_types[]`, `account_id` of the list endpoints."""

    types: tuple[str, ...] = ()
    exclude_types: tuple[str, ...] = ()
    from_account_id: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.types:
            conditions.append(Notification.type.in_(self.types))
        if self.exclude_types:
            conditions.append(Notification.type.not_in(self.exclude_types))
        if self.from_account_id is not None:
            conditions.append(Notification.from_account_id == self.from_account_id)
        return conditions


def _affected(session: Session, statement: Executable) -> int:
    """Rows an INSERT/UPDATE/DELETE changed."""
    return affected_rows(session.execute(statement))


def insert(session: Session, notification: Notification) -> bool:
    """Adds it unless the recipient already has one with its `dedupe_key`; returns whether it did."""
    values = {c.name: getattr(notification, c.key) for c in Notification.__table__.columns}
    stmt = dialect_insert(session)(Notification).values(values)
    return _affected(session, stmt.on_conflict_do_nothing(index_elements=["account_id", "dedupe_key"])) == 1


def latest_group_key(session: Session, account_id: int, type_: str, status_id: int | None) -> str | None:
    query = select(Notification.group_key).where(
        Notification.account_id == account_id, Notification.type == type_
    )
    if status_id is not None:
        query = query.where(Notification.status_id == status_id)
    return session.scalar(query.order_by(Notification.id.desc()).limit(1))


def _visible(account_id: int) -> list[ColumnElement[bool]]:
    # A notification shows once its sender's account is known here (events of different accounts
    # may arrive in any order).
    return [Notification.account_id == account_id, Notification.from_account_id.in_(select(Account.id))]


def page(session: Session, account_id: int, page: Page, filters: Filters) -> list[Notification]:
    """Newest first; with `min_id`, the page just above it (still returned newest first)."""
    query = select(Notification).where(*_visible(account_id), *filters.conditions())
    if page.max_id is not None:
        query = query.where(Notification.id < page.max_id)
    if page.min_id is not None:
        rows = session.scalars(
            query.where(Notification.id > page.min_id).order_by(Notification.id.asc()).limit(page.limit)
        ).all()
        return list(reversed(rows))
    if page.since_id is not None:
        query = query.where(Notification.id > page.since_id)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(page.limit)))


def get(session: Session, account_id: int, notification_id: int) -> Notification | None:
    return session.scalar(
        select(Notification).where(*_visible(account_id), Notification.id == notification_id)
    )


def by_id(session: Session, notification_id: int) -> Notification | None:
    """Whoever it is for (the caller checks)."""
    return session.get(Notification, notification_id)


def by_ids(session: Session, ids: Sequence[int]) -> list[Notification]:
    if not ids:
        return []
    return list(session.scalars(select(Notification).where(Notification.id.in_(ids))))


def dismiss(session: Session, account_id: int, notification_id: int) -> bool:
    return bool(
        _affected(
            session,
            delete(Notification).where(
                Notification.account_id == account_id, Notification.id == notification_id
            ),
        )
    )


def dismiss_group(session: Session, account_id: int, group_key: str) -> int:
    return _affected(
        session,
        delete(Notification).where(
            Notification.account_id == account_id, Notification.group_key == group_key
        ),
    )


def clear(session: Session, account_id: int) -> None:
    session.execute(delete(Notification).where(Notification.account_id == account_id))


def remove_for_status(session: Session, status_id: int) -> None:
    session.execute(delete(Notification).where(Notification.status_id == status_id))


def remove_for_account(session: Session, account_id: int) -> None:
    session.execute(
        delete(Notification).where(
            (Notification.account_id == account_id) | (Notification.from_account_id == account_id)
        )
    )


def attach_email(session: Session, notification_id: int, email_id: int | None) -> None:
    """The notification went into this activity email (its digest)."""
    session.execute(update(Notification).where(Notification.id == notification_id).values(email_id=email_id))


def in_email(session: Session, email_id: int, read_up_to: int | None) -> list[Notification]:
    """What a digest still has to say: its notifications that exist and are not read yet, newest
    first."""
    query = select(Notification).where(Notification.email_id == email_id)
    if read_up_to is not None:
        query = query.where(Notification.id > read_up_to)
    return list(session.scalars(query.order_by(Notification.id.desc())))


def read_position(session: Session, account_id: int) -> int | None:
    """The `notifications` marker's `last_read_id`: what is above it is unread."""
    return session.scalar(
        select(Marker.last_read_id).where(
            Marker.account_id == account_id, Marker.timeline == NOTIFICATIONS_TIMELINE
        )
    )


def remove_unseen_follow(session: Session, follower: int, followee: int) -> int:
    """An unfollow takes back the follow notification the followee has not read yet."""
    query = delete(Notification).where(
        Notification.account_id == followee,
        Notification.from_account_id == follower,
        Notification.type == "follow",
    )
    last_read = read_position(session, followee)
    if last_read is not None:
        query = query.where(Notification.id > last_read)
    return int(_affected(session, query))


def unread_count(session: Session, account_id: int, filters: Filters, limit: int) -> int:
    """Notifications above the read marker (all of them without one), counted up to `limit`."""
    query = select(Notification.id).where(*_visible(account_id), *filters.conditions())
    last_read = read_position(session, account_id)
    if last_read is not None:
        query = query.where(Notification.id > last_read)
    capped = query.order_by(Notification.id.desc()).limit(limit).subquery()
    return int(session.scalar(select(func.count()).select_from(capped)) or 0)


# -- grouped (Mastodon 4.3) -------------------------------------------------------------------


def effective_group(grouped_types: Sequence[str]) -> ColumnElement[str]:
    """The group a notification counts in: its `group_key` if its type is grouped in this request,
    else a group of its own (`ungrouped-<id>`)."""
    own = literal("ungrouped-") + cast(Notification.id, String)
    return case((Notification.type.in_(tuple(grouped_types)), Notification.group_key), else_=own)


def group_page(
    session: Session, account_id: int, page: Page, filters: Filters, grouped_types: Sequence[str]
) -> list[Notification]:
    """Mastodon's `paginate_groups`: walking newest first from the cursor (oldest first with
    `min_id`), the newest notification of each group not met yet, until `limit` groups. Read in
    batches, so a page costs a few queries whatever the size of its groups."""
    group = effective_group(grouped_types)
    ascending = page.min_id is not None
    query = select(Notification, group.label("effective_group")).where(
        *_visible(account_id), *filters.conditions()
    )
    if page.max_id is not None:
        query = query.where(Notification.id < page.max_id)
    if page.since_id is not None and not ascending:
        query = query.where(Notification.id > page.since_id)
    seen: set[str] = set()
    picked: list[Notification] = []
    batch = max(page.limit * 4, 40)
    cursor: int | None = page.min_id if ascending else None
    while len(picked) < page.limit:
        step = query
        if ascending:
            step = step.where(Notification.id > cursor).order_by(Notification.id.asc())
        else:
            if cursor is not None:
                step = step.where(Notification.id < cursor)
            step = step.order_by(Notification.id.desc())
        rows = session.execute(step.limit(batch)).all()
        for notification, key in rows:
            if key not in seen:
                seen.add(key)
                picked.append(notification)
                if len(picked) == page.limit:
                    break
        if len(rows) < batch:
            break
        cursor = rows[-1][0].id
    picked.sort(key=lambda n: n.id, reverse=True)
    return picked


@dataclass(frozen=True)
class GroupData:
    notifications_count: int
    most_recent_notification_id: int
    sample_account_ids: list[int]
    latest_at: datetime
    page_min_id: int
    page_max_id: int


def groups_data(
    session: Session, account_id: int, keys: Sequence[str], upper: int, lower: int, samples: int
) -> dict[str, GroupData]:
    """For each group key: its notifications up to `upper` (the page's newest id) counted, the
    newest of them, its newest senders (`samples`), and its part of the page (`lower`..`upper`).
    One query with window functions."""
    if not keys:
        return {}
    number = func.row_number().over(partition_by=Notification.group_key, order_by=Notification.id.desc())
    total = func.count().over(partition_by=Notification.group_key)
    ranked = (
        select(
            Notification.group_key.label("key"),
            Notification.id.label("id"),
            Notification.from_account_id.label("sender"),
            Notification.created_at.label("at"),
            number.label("n"),
            total.label("total"),
        )
        .where(
            Notification.account_id == account_id,
            Notification.group_key.in_(list(keys)),
            Notification.id <= upper,
            Notification.from_account_id.in_(select(Account.id)),
        )
        .subquery()
    )
    # The newest few of each group (its samples) and those within the page; not the whole group.
    rows = session.execute(
        select(ranked.c.key, ranked.c.id, ranked.c.sender, ranked.c.at, ranked.c.n, ranked.c.total).where(
            (ranked.c.n <= samples) | (ranked.c.id >= lower)
        )
    ).all()
    by_key: dict[str, list[tuple[int, int, int, datetime, int]]] = {}
    for key, notification_id, sender, created_at, n, count in rows:
        by_key.setdefault(key, []).append((int(n), int(notification_id), int(sender), created_at, int(count)))
    result: dict[str, GroupData] = {}
    for key, members in by_key.items():
        members.sort()  # by row number: newest first
        _, newest, _, latest_at, count = members[0]
        senders: list[int] = []
        for _, _, sender, _, _ in members[:samples]:
            if sender not in senders:
                senders.append(sender)
        in_page = [notification_id for _, notification_id, _, _, _ in members if notification_id >= lower]
        result[key] = GroupData(
            notifications_count=count,
            most_recent_notification_id=newest,
            sample_account_ids=senders,
            latest_at=latest_at,
            page_min_id=min(in_page) if in_page else newest,
            page_max_id=newest,
        )
    return result


def group_members(session: Session, account_id: int, group_key: str) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(*_visible(account_id), Notification.group_key == group_key)
            .order_by(Notification.id.desc())
        )
    )


def unread_group_count(
    session: Session, account_id: int, filters: Filters, grouped_types: Sequence[str], limit: int
) -> int:
    """Groups with a notification above the read marker, counted up to `limit`."""
    group = effective_group(grouped_types)
    query = select(group.label("g")).where(*_visible(account_id), *filters.conditions())
    last_read = read_position(session, account_id)
    if last_read is not None:
        query = query.where(Notification.id > last_read)
    distinct_groups = select(query.subquery().c.g).distinct().limit(limit).subquery()
    return int(session.scalar(select(func.count()).select_from(distinct_groups)) or 0)


def has_any(session: Session, conditions: Sequence[ColumnElement[bool]]) -> bool:
    return session.scalar(select(literal(1)).where(and_(*conditions)).limit(1)) is not None
