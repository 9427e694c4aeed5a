"""Every query on the follow graph. Lists are one query per page (the follow row's id is the
cursor); counts are kept on the account rows and changed in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from microblog_common.pagination import Page
from microblog_common.sql import affected_rows, dialect_insert
from users.models import Account, Follow, FollowVersion


def get(session: Session, account_id: int, target_account_id: int) -> Follow | None:
    stmt = select(Follow).where(
        Follow.account_id == account_id, Follow.target_account_id == target_account_id
    )
    return session.scalars(stmt).first()


def insert_if_absent(session: Session, follow: Follow) -> bool:
    """True when this call created the follow (concurrent follows of the same pair: one wins)."""
    insert = dialect_insert(session)
    stmt = (
        insert(Follow)
        .values(
            id=follow.id,
            account_id=follow.account_id,
            target_account_id=follow.target_account_id,
            show_reblogs=follow.show_reblogs,
            notify=follow.notify,
            languages=follow.languages,
            created_at=follow.created_at,
        )
        .on_conflict_do_nothing(index_elements=["account_id", "target_account_id"])
    )
    return affected_rows(session.execute(stmt)) == 1


def delete_pair(session: Session, account_id: int, target_account_id: int) -> bool:
    stmt = delete(Follow).where(
        Follow.account_id == account_id, Follow.target_account_id == target_account_id
    )
    return affected_rows(session.execute(stmt)) == 1


def next_pair_version(session: Session, account_id: int, target_account_id: int) -> int:
    """The next version of the pair's follow aggregate (1 for a pair never seen), taken under the
    row's lock so concurrent changes of one pair get distinct, increasing versions."""
    insert = dialect_insert(session)
    stmt = insert(FollowVersion).values(account_id=account_id, target_account_id=target_account_id, version=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[FollowVersion.account_id, FollowVersion.target_account_id],
        set_={"version": FollowVersion.version + 1},
    ).returning(FollowVersion.version)
    return int(session.execute(stmt).scalar_one())


def change_counts(session: Session, follower_id: int, followee_id: int, delta: int) -> None:
    """In SQL, so concurrent follows of one account never lose an increment; the two rows in id
    order, so two accounts following each other at the same moment never deadlock (each would
    otherwise hold its own row and wait for the other's)."""
    counts = {follower_id: Account.following_count, followee_id: Account.followers_count}
    for account_id in sorted(counts):
        column = counts[account_id]
        session.execute(update(Account).where(Account.id == account_id).values({column: column + delta}))


def _page(
    session: Session, join_on: ColumnElement[bool], where: ColumnElement[bool], page: Page
) -> list[tuple[int, Account]]:
    stmt = select(Follow.id, Account).join(Account, join_on).where(where)
    if page.max_id is not None:
        stmt = stmt.where(Follow.id < page.max_id)
    if page.since_id is not None:
        stmt = stmt.where(Follow.id > page.since_id)
    if page.min_id is not None:
        # The page just after min_id (oldest first), returned newest first like every page.
        stmt = stmt.where(Follow.id > page.min_id).order_by(Follow.id.asc()).limit(page.limit)
        return [(row[0], row[1]) for row in reversed(session.execute(stmt).all())]
    stmt = stmt.order_by(Follow.id.desc()).limit(page.limit)
    return [(row[0], row[1]) for row in session.execute(stmt).all()]


def followers_page(session: Session, account_id: int, page: Page) -> list[tuple[int, Account]]:
    return _page(session, Account.id == Follow.account_id, Follow.target_account_id == account_id, page)


def following_page(session: Session, account_id: int, page: Page) -> list[tuple[int, Account]]:
    return _page(session, Account.id == Follow.target_account_id, Follow.account_id == account_id, page)


def between(session: Session, account_id: int, others: Sequence[int]) -> Sequence[Follow]:
    """Follows in either direction between `account_id` and each of `others`."""
    if not others:
        return []
    stmt = select(Follow).where(
        or_(
            and_(Follow.account_id == account_id, Follow.target_account_id.in_(others)),
            and_(Follow.target_account_id == account_id, Follow.account_id.in_(others)),
        )
    )
    return session.scalars(stmt).all()
