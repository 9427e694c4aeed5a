"""Every query on accounts and their credentials."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from users.models import Account, User


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
