"""Every query on accounts and their credentials."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from microblog_common.sql import affected_rows, dialect_insert
from users.models import Account, AccountStatus, User


def get(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def get_many(session: Session, account_ids: Sequence[int]) -> Sequence[Account]:
    if not account_ids:
        return []
    return session.scalars(select(Account).where(Account.id.in_(account_ids))).all()


def existing_ids(session: Session, account_ids: Sequence[int]) -> set[int]:
    if not account_ids:
        return set()
    return set(session.scalars(select(Account.id).where(Account.id.in_(account_ids))))


def by_username(session: Session, username: str) -> Account | None:
    # Matches the unique index on lower(username).
    return session.scalars(select(Account).where(func.lower(Account.username) == username.lower())).first()


def username_taken(session: Session, username: str) -> bool:
    return by_username(session, username) is not None


def email_taken(session: Session, email: str) -> bool:
    return session.scalar(select(User.account_id).where(User.email == email.lower())) is not None


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.lower())).first()


def credentials_for_login(session: Session, identifier: str) -> tuple[Account, User] | None:
    """Sign-in takes the email address (as Mastodon) or the username."""
    stmt = select(Account, User).join(User, User.account_id == Account.id)
    if "@" in identifier:
        stmt = stmt.where(User.email == identifier.strip().lower())
    else:
        stmt = stmt.where(func.lower(Account.username) == identifier.strip().lower())
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def get_user(session: Session, account_id: int) -> User | None:
    return session.get(User, account_id)


def add(session: Session, account: Account, user: User) -> None:
    session.add(account)
    session.flush()  # the account row first: users.account_id references it
    session.add(user)
    session.flush()


def count_status(session: Session, status_id: int, account_id: int, created_at: datetime) -> None:
    """A status that counts towards the account's `statuses_count`: counted once, however often
    its `post.published` arrives."""
    insert = dialect_insert(session)
    added = affected_rows(
        session.execute(
            insert(AccountStatus)
            .values(status_id=status_id, account_id=account_id, created_at=created_at)
            .on_conflict_do_nothing(index_elements=[AccountStatus.status_id])
        )
    )
    if added:
        latest = case(
            (Account.last_status_at.is_(None), created_at),
            (Account.last_status_at < created_at, created_at),
            else_=Account.last_status_at,
        )
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(statuses_count=Account.statuses_count + 1, last_status_at=latest)
        )


def uncount_status(session: Session, status_id: int) -> None:
    """Takes back what `count_status` added for this status, if it added anything."""
    gone = session.execute(
        delete(AccountStatus).where(AccountStatus.status_id == status_id).returning(AccountStatus.account_id)
    ).scalar_one_or_none()
    if gone is not None:
        session.execute(
            update(Account).where(Account.id == gone).values(statuses_count=Account.statuses_count - 1)
        )


def instance_stats(session: Session, active_since: datetime) -> tuple[int, int, int]:
    """Accounts, the statuses they count (Mastodon's `status_count`: the sum of
    `statuses_count`), and accounts that posted since `active_since`."""
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Account.statuses_count), 0),
            func.count().filter(Account.last_status_at >= active_since),
        ).select_from(Account)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])
