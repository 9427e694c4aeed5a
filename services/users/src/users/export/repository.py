"""The export's queries: one page, in id order, in one statement each."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from users.models import Account, Follow, FollowVersion


def accounts_after(session: Session, after: int, limit: int) -> list[Account]:
    return list(session.scalars(select(Account).where(Account.id > after).order_by(Account.id).limit(limit)))


def follows_after(session: Session, after: int, limit: int) -> list[tuple[Follow, int]]:
    """Each follow with its pair's version (1 when none was recorded)."""
    rows = session.execute(
        select(Follow, FollowVersion.version)
        .outerjoin(
            FollowVersion,
            and_(
                FollowVersion.account_id == Follow.account_id,
                FollowVersion.target_account_id == Follow.target_account_id,
            ),
        )
        .where(Follow.id > after)
        .order_by(Follow.id)
        .limit(limit)
    )
    return [(follow, int(version or 1)) for follow, version in rows]
