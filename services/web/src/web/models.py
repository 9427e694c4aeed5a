"""Tables the web service owns: sign-in sessions, the OAuth application it registered itself as,
and each account's interface language. Nothing here is another service's data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from microblog_common.db import UTCDateTime
from microblog_common.events import MessagingTables


class Base(DeclarativeBase):
    pass


messaging = MessagingTables(Base.metadata)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random key; this row is found by its SHA-256, so the
    table alone (a backup, a leak) opens no session. The access token is kept encrypted."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    access_token: Mapped[str] = mapped_column(Text, nullable=False)
    scopes: Mapped[str] = mapped_column(String(200), nullable=False)
    # The secret the session's CSRF tokens are made from.
    csrf_secret: Mapped[str] = mapped_column(String(64), nullable=False)
    # What the page header shows of the signed-in account (username, display name, avatar),
    # refreshed at sign-in and when the profile is saved: no API call per page for it.
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_sessions_expires_at", "expires_at"),)


class OAuthClient(Base):
    """The OAuth application the web UI registered itself as (`POST /api/v1/apps`), one per
    redirect URI (so per public origin). The client secret is kept encrypted."""

    __tablename__ = "oauth_clients"

    redirect_uri: Mapped[str] = mapped_column(String(500), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100), nullable=False)
    client_secret: Mapped[str] = mapped_column(Text, nullable=False)
    scopes: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class AccountPreference(Base):
    """The interface language an account chose, whichever browser it signs in from."""

    __tablename__ = "account_preferences"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    locale: Mapped[str] = mapped_column(String(16), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
