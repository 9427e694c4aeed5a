"""Tables the users service owns. Ids are assigned in code (`microblog_common.ids.new_id`), never
by the database, except the revocation feed's cursor, which must grow in commit order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from microblog_common.db import UTCDateTime
from microblog_common.events import MessagingTables

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGSERIAL.
AutoBigInteger = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


messaging = MessagingTables(Base.metadata)


class Account(Base):
    """The public profile. Everything here may appear in API responses and events."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(30), nullable=False)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    # The bio as typed (plain text) and as served (sanitised HTML).
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    note_html: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # [{"name": ..., "value": ...}] as typed; rendered to HTML when serialised.
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    bot: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    indexable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    hide_collections: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    default_privacy: Mapped[str] = mapped_column(String(10), nullable=False, default="public")
    default_sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    default_language: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    # Uploaded pictures: storage keys (`accounts/avatars/<sha256>.png`); None: the default ones.
    # The static keys differ only for animations (their first frame).
    avatar_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    avatar_static_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    header_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    header_static_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    followers_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    following_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    statuses_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Grows on every profile change; consumers of `user.updated` drop older snapshots by it.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_accounts_username_lower", func.lower(username), unique=True),)


class User(Base):
    """The private side of a local account: sign-in credentials. Never serialised publicly."""

    __tablename__ = "users"

    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # Stored lower-cased (as Mastodon does), so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    locale: Mapped[str] = mapped_column(String(16), nullable=False, default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Application(Base):
    __tablename__ = "oauth_applications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    website: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # One URI per line, as Mastodon stores them.
    redirect_uris: Mapped[str] = mapped_column(Text, nullable=False)
    scopes: Mapped[str] = mapped_column(String(2000), nullable=False)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # sha256 of the secret: it is shown once, at registration.
    client_secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class AuthorizationCode(Base):
    __tablename__ = "oauth_authorization_codes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    application_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("oauth_applications.id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    redirect_uri: Mapped[str] = mapped_column(Text, nullable=False)
    scopes: Mapped[str] = mapped_column(String(2000), nullable=False)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(10), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The token the code was exchanged for: revoked if someone replays the code (RFC 6749 §4.1.2).
    access_token_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class AccessToken(Base):
    """One issued access token (a JWT whose `jti` is this id) and its refresh token, if any."""

    __tablename__ = "oauth_access_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    application_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("oauth_applications.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # None for client_credentials (app-only) tokens.
    account_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True
    )
    scopes: Mapped[str] = mapped_column(String(2000), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Every token obtained by refreshing shares the family of the first one.
    refresh_family_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    # Set when this row's refresh token was exchanged; presenting it again is a replay.
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the gateway last asked whether the token is live: its last use, to within the time the
    # gateway remembers an answer (TOKEN_STATUS_TTL_SECONDS there). Shown in the authorised apps.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SigningKey(Base):
    __tablename__ = "signing_keys"

    # RFC 7638 thumbprint of the public key.
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), nullable=False)
    private_key_pem: Mapped[str] = mapped_column(Text, nullable=False)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Set when a newer key took over signing; the public key stays published until the last
    # token it signed has expired.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TokenRevocation(Base):
    """The feed the gateway polls: one row per revoked token, in commit order."""

    __tablename__ = "token_revocations"

    cursor: Mapped[int] = mapped_column(AutoBigInteger, primary_key=True, autoincrement=True)
    jti: Mapped[str] = mapped_column(String(32), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Follow(Base):
    __tablename__ = "follows"

    # Also the cursor of the followers/following lists.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    target_account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    show_reblogs: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    notify: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    languages: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("account_id", "target_account_id", name="uq_follows_pair"),
        Index("ix_follows_account_id_id", "account_id", "id"),
        Index("ix_follows_target_account_id_id", "target_account_id", "id"),
    )


class PasswordResetToken(Base):
    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # sha256 of the token; the token itself only travels in the event (to the email).
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PasswordResetRequest(Base):
    """One row per reset request for an address (known or not), to limit requests per address
    without revealing which addresses have accounts."""

    __tablename__ = "password_reset_requests"
    __table_args__ = (Index("ix_password_reset_requests_address", "address_hash", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # sha256 of the lower-cased address: the table never holds addresses in clear.
    address_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class FollowVersion(Base):
    """The version of each follow pair's aggregate (the `user.followed`/`user.unfollowed` events'
    `version`): kept after an unfollow, so a follow made again later carries a higher one."""

    __tablename__ = "follow_versions"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    target_account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AccountStatus(Base):
    """The statuses that count towards an account's `statuses_count` (Mastodon leaves direct ones
    out), kept from `post.published` and `post.deleted`: a row per counted status, so a delete
    only takes back what a publish added."""

    __tablename__ = "account_statuses"

    status_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
