"""Every query on signing keys, access/refresh tokens and the revocation feed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from microblog_common.sql import affected_rows
from users.models import AccessToken, SigningKey, TokenRevocation

# pg_advisory_xact_lock keys (any constants unique within this database).
_SIGNING_KEYS_LOCK = 7_310_001
_REVOCATION_FEED_LOCK = 7_310_002


def _advisory_lock(session: Session, key: int) -> None:
    """Serialise writers on PostgreSQL until the transaction ends. SQLite serialises every writer."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


# -- signing keys --------------------------------------------------------------------------


def lock_signing_keys(session: Session) -> None:
    _advisory_lock(session, _SIGNING_KEYS_LOCK)


def get_signing_key(session: Session, kid: str) -> SigningKey | None:
    return session.get(SigningKey, kid)


def add_signing_key(session: Session, **values: Any) -> SigningKey:
    row = SigningKey(**values)
    session.add(row)
    return row


def newest_active_signing_key(session: Session) -> SigningKey | None:
    stmt = (
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc(), SigningKey.kid)
        .limit(1)
    )
    return session.scalars(stmt).first()


def retire_signing_keys_except(session: Session, kid: str, at: datetime) -> None:
    session.execute(
        update(SigningKey).where(SigningKey.kid != kid, SigningKey.retired_at.is_(None)).values(retired_at=at)
    )


def published_signing_keys(session: Session, *, retired_after: datetime) -> Sequence[SigningKey]:
    stmt = (
        select(SigningKey)
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > retired_after))
        .order_by(SigningKey.created_at.desc())
    )
    return session.scalars(stmt).all()


# -- access and refresh tokens -------------------------------------------------------------


def add_access_token(session: Session, row: AccessToken) -> AccessToken:
    session.add(row)
    session.flush()
    return row


def get_access_token(session: Session, token_id: int) -> AccessToken | None:
    return session.get(AccessToken, token_id)


def get_by_refresh_hash(session: Session, refresh_hash: str) -> AccessToken | None:
    # FOR UPDATE: two concurrent refreshes with one token must not both rotate it.
    stmt = select(AccessToken).where(AccessToken.refresh_token_hash == refresh_hash).with_for_update()
    return session.scalars(stmt).first()


def revoke_where(
    session: Session, condition: ColumnElement[bool], at: datetime
) -> list[tuple[int, datetime]]:
    """Revoke every live token matching `condition`; returns (id, expires_at) of each."""
    stmt = (
        update(AccessToken)
        .where(condition, AccessToken.revoked_at.is_(None))
        .values(revoked_at=at)
        .returning(AccessToken.id, AccessToken.expires_at)
        .execution_options(synchronize_session="fetch")
    )
    return [(row.id, row.expires_at) for row in session.execute(stmt)]


# -- the revocation feed -------------------------------------------------------------------


def append_revocations(session: Session, revoked: list[tuple[int, datetime]], at: datetime) -> None:
    if not revoked:
        return
    # Cursors come from a sequence, handed out at insert but visible at commit: with concurrent
    # writers a poller could skip a lower cursor that commits late. One writer at a time makes
    # commit order equal cursor order.
    _advisory_lock(session, _REVOCATION_FEED_LOCK)
    session.add_all(
        TokenRevocation(jti=str(token_id), expires_at=expires_at, created_at=at)
        for token_id, expires_at in revoked
    )
    session.flush()


def revocations_after(session: Session, cursor: int, limit: int) -> Sequence[TokenRevocation]:
    stmt = (
        select(TokenRevocation)
        .where(TokenRevocation.cursor > cursor)
        .order_by(TokenRevocation.cursor)
        .limit(limit)
    )
    return session.scalars(stmt).all()


def feed_bounds(session: Session) -> tuple[int | None, int | None]:
    """The oldest and newest cursor the feed still holds (None, None when empty)."""
    row = session.execute(select(func.min(TokenRevocation.cursor), func.max(TokenRevocation.cursor))).one()
    return row[0], row[1]


def token_is_active(session: Session, token_id: int, now: datetime) -> bool:
    row = session.execute(
        select(AccessToken.revoked_at, AccessToken.expires_at).where(AccessToken.id == token_id)
    ).one_or_none()
    return row is not None and row.revoked_at is None and row.expires_at > now


def mark_used(session: Session, token_id: int, now: datetime) -> None:
    session.execute(update(AccessToken).where(AccessToken.id == token_id).values(last_used_at=now))


def prune_revocations(session: Session, created_before: datetime) -> int:
    """Feed rows older than the window a gateway may need (its remembered answers' lifetime and
    an outage); the tokens themselves stay revoked in their own rows."""
    stmt = delete(TokenRevocation).where(TokenRevocation.created_at < created_before)
    return int(affected_rows(session.execute(stmt)))
