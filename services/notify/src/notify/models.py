"""Tables the notify service owns. Ids are assigned in code (`microblog_common.ids.new_id`), so they
sort by time.

Three groups: what it is the source of (notifications, markers, email preferences, the outgoing
email queue, suppressed addresses, live-stream presence), and its replica of what the users and posts
services own (accounts, follows, statuses, favourites), fed by their events, from which a
Notification is rendered without calling another service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from microblog_common.db import UTCDateTime
from microblog_common.events import MessagingTables


class Base(DeclarativeBase):
    pass


messaging = MessagingTables(Base.metadata)


# -- the replica ------------------------------------------------------------------------------


class Account(Base):
    """The account snapshot of `user.registered`/`user.updated` (the whole contract, as JSON, so the
    shared Account entity renders from it), the email address and locale `user.registered` (and each
    password-reset request) carries, and the counts this service can keep from events."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(30), nullable=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(16), nullable=True)
    followers_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    following_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    statuses_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Follow(Base):
    """The follow graph. An unfollow keeps the row (`active` false), so the pair's state survives."""

    __tablename__ = "follows"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    target_account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # The follower asked to be told of the followee's posts (`status` notifications).
    notify: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The version of the pair's last event applied: the live streams merge the graph they load
    # with the events they receive by it.
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)

    __table_args__ = (Index("ix_follows_target_account_id", "target_account_id", "account_id"),)


class Status(Base):
    """The newest snapshot of a status (`post.*`). `version` 0: known only from a favourite's copy,
    its publication not yet applied (its mentions are still to be made when it is)."""

    __tablename__ = "statuses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    visibility: Mapped[str] = mapped_column(String(10), nullable=False)
    in_reply_to_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    in_reply_to_account_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Who it mentions (ids): they may see it whatever its visibility.
    mentioned_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    replies_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    favourites_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_statuses_in_reply_to_id", "in_reply_to_id"),
        Index("ix_statuses_account_id", "account_id", "id"),
    )


class Favourite(Base):
    """Who favourited what (`post.favourited`): who is told when the status is edited."""

    __tablename__ = "favourites"

    status_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_favourites_account_id", "account_id"),)


# -- notifications ----------------------------------------------------------------------------


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)  # who is notified
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    from_account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Mastodon 4.3's group: `favourite-<status>-<hour bucket>`, `follow-<hour bucket>`, else
    # `ungrouped-<id>`.
    group_key: Mapped[str] = mapped_column(String(80), nullable=False)
    # What makes a notification the same one again (an event handled twice, a snapshot applied
    # on first sight after a gap): unique per recipient.
    dedupe_key: Mapped[str] = mapped_column(String(120), nullable=False)
    # The activity email this notification went into (its digest), if any.
    email_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        # Every list, count and cursor: a recipient's range of ids.
        Index("ix_notifications_account_id_id", "account_id", "id"),
        Index("uq_notifications_dedupe", "account_id", "dedupe_key", unique=True),
        Index("ix_notifications_account_group", "account_id", "group_key", "id"),
        Index("ix_notifications_status_id", "status_id"),
        Index("ix_notifications_from_account_id", "from_account_id"),
        Index("ix_notifications_email_id", "email_id"),
    )


class Marker(Base):
    """The read position of a timeline (`home`, `notifications`); `version` is Mastodon's lock
    version, growing with every update."""

    __tablename__ = "markers"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    timeline: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_read_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# -- email ------------------------------------------------------------------------------------


class EmailPreferences(Base):
    """Which activity emails an account gets, and the token of its one-click unsubscribe links
    (a random capability: whoever holds it may only turn this account's emails off)."""

    __tablename__ = "email_preferences"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    follow: Mapped[bool] = mapped_column(Boolean, nullable=False)
    mention: Mapped[bool] = mapped_column(Boolean, nullable=False)
    favourite: Mapped[bool] = mapped_column(Boolean, nullable=False)
    unsubscribe_token: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Email(Base):
    """One message to send, recorded before every attempt and after its outcome.

    `state`: `pending` (waiting for `due_at`), `sending` (an attempt in flight, leased until
    `locked_until`; a crash leaves it to be tried again once the lease ends), `sent`, `failed`
    (refused for good, or out of attempts), `suppressed` (the address is inactive), `skipped`
    (nothing left to say: its notifications were read or removed, or the type was turned off).
    An activity email collects the notifications of its type while `digest_key` is set."""

    __tablename__ = "emails"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    to_address: Mapped[str] = mapped_column(String(320), nullable=False)
    locale: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[str] = mapped_column(String(12), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    digest_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_emails_due", "state", "due_at"),
        Index("ix_emails_account_kind", "account_id", "kind", "id"),
    )


class SuppressedAddress(Base):
    """An address the provider reported inactive (hard bounce, spam complaint): never mailed again."""

    __tablename__ = "suppressed_addresses"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)  # lower case
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class StreamPresence(Base):
    """Which accounts have a live user stream open, per API replica, refreshed by each replica
    while its streams are open: no activity email goes to someone who is watching."""

    __tablename__ = "stream_presence"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    replica: Mapped[str] = mapped_column(String(80), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_stream_presence_replica", "replica"),)
