"""Every query on the web service's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from microblog_common.sql import affected_rows
from web.models import AccountPreference, OAuthClient, WebSession


def get_session(session: Session, session_id: str, now: datetime) -> tuple[WebSession, str | None] | None:
    """The live session and its account's interface language, in one query."""
    row = session.execute(
        select(WebSession, AccountPreference.locale)
        .outerjoin(AccountPreference, AccountPreference.account_id == WebSession.account_id)
        .where(WebSession.id == session_id, WebSession.expires_at > now)
    ).first()
    return (row[0], row[1]) if row is not None else None


def add_session(session: Session, row: WebSession) -> WebSession:
    session.add(row)
    session.flush()
    return row


def touch_session(session: Session, session_id: str, seen: datetime, expires: datetime) -> None:
    session.execute(
        update(WebSession).where(WebSession.id == session_id).values(last_seen_at=seen, expires_at=expires)
    )


def update_profile(session: Session, account_id: int, profile: dict[str, Any]) -> None:
    """Every session of the account shows the new profile."""
    session.execute(update(WebSession).where(WebSession.account_id == account_id).values(profile=profile))


def delete_session(session: Session, session_id: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == session_id))


def delete_expired_sessions(session: Session, now: datetime) -> int:
    return affected_rows(session.execute(delete(WebSession).where(WebSession.expires_at <= now)))


def get_client(session: Session, redirect_uri: str) -> OAuthClient | None:
    return session.get(OAuthClient, redirect_uri)


def add_client(session: Session, row: OAuthClient) -> None:
    session.add(row)
    session.flush()


def delete_client(session: Session, redirect_uri: str) -> None:
    session.execute(delete(OAuthClient).where(OAuthClient.redirect_uri == redirect_uri))


def get_locale(session: Session, account_id: int) -> str | None:
    row = session.get(AccountPreference, account_id)
    return row.locale if row is not None else None


def set_locale(session: Session, account_id: int, locale: str, now: datetime) -> None:
    row = session.get(AccountPreference, account_id)
    if row is None:
        session.add(AccountPreference(account_id=account_id, locale=locale, updated_at=now))
    else:
        row.locale = locale
        row.updated_at = now
    session.flush()
