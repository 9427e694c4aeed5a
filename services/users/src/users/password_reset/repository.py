"""Every query on password-reset tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from microblog_common.sql import affected_rows
from users.models import PasswordResetRequest, PasswordResetToken


def add(session: Session, row: PasswordResetToken) -> None:
    session.add(row)
    session.flush()


def by_hash(session: Session, token_hash: str) -> PasswordResetToken | None:
    # FOR UPDATE: a token is used once, even by concurrent requests.
    stmt = select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash).with_for_update()
    return session.scalars(stmt).first()


def use_all(session: Session, account_id: int, at: datetime) -> None:
    """Spend every outstanding token of the account (a newer one, or the password changed)."""
    session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.account_id == account_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=at)
    )


def requests_since(session: Session, address_hash: str, since: datetime) -> int:
    stmt = select(func.count()).where(
        PasswordResetRequest.address_hash == address_hash, PasswordResetRequest.created_at >= since
    )
    return session.scalar(stmt) or 0


def record_request(session: Session, row: PasswordResetRequest, forget_before: datetime) -> None:
    session.execute(
        delete(PasswordResetRequest).where(
            PasswordResetRequest.address_hash == row.address_hash,
            PasswordResetRequest.created_at < forget_before,
        )
    )
    session.add(row)
    session.flush()


def prune(session: Session, *, tokens_done_before: datetime, requests_before: datetime) -> int:
    """Tokens used or expired before the cutoff, and requests older than the rate window."""
    tokens = affected_rows(
        session.execute(
            delete(PasswordResetToken).where(
                (PasswordResetToken.expires_at < tokens_done_before)
                | (PasswordResetToken.used_at < tokens_done_before)
            )
        )
    )
    requests = affected_rows(
        session.execute(delete(PasswordResetRequest).where(PasswordResetRequest.created_at < requests_before))
    )
    return int(tokens) + int(requests)
