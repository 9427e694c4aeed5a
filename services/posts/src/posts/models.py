"""Tables the posts service owns. Ids are assigned in code (`microblog_common.ids.new_id`), never by
the database, so they sort by time.

Two groups: what this service is the source of (statuses, their edits, mentions, hashtags,
favourites, home feeds, scheduled statuses, idempotency keys) and its replica of what the users
service owns (account snapshots and the follow graph), fed by `user.*` events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
    or_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import ColumnElement, FromClause

from microblog_common.db import UTCDateTime
from microblog_common.events import MessagingTables


class Base(DeclarativeBase):
    pass


messaging = MessagingTables(Base.metadata)

VISIBILITIES = ("public", "unlisted", "private", "direct")
# Visible to anyone, signed in or not.
OPEN_VISIBILITIES = ("public", "unlisted")


# -- the replica ------------------------------------------------------------------------------


class Account(Base):
    """An account snapshot from `user.registered`/`user.updated` (the newest `version` wins), plus
    the counts this service keeps itself: follows (from its follow graph) and statuses."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(30), nullable=False)
    acct: Mapped[str] = mapped_column(String(255), nullable=False)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")  # HTML
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    avatar: Mapped[str] = mapped_column(String(2000), nullable=False)
    avatar_static: Mapped[str] = mapped_column(String(2000), nullable=False)
    header: Mapped[str] = mapped_column(String(2000), nullable=False)
    # "" in snapshots from before the field: the header stands for itself.
    header_static: Mapped[str] = mapped_column(String(2000), nullable=False, server_default="")
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    bot: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    indexable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    hide_collections: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # [{"name": ..., "value": <html>}]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    followers_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    following_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    statuses_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The author's posting defaults (`source[privacy]`, `source[sensitive]`), for a post that
    # doesn't say: Mastodon's `setting_default_privacy` and `setting_default_sensitive`.
    default_privacy: Mapped[str] = mapped_column(String(10), nullable=False, server_default="public")
    default_sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    # `source[language]`: a post naming no language gets it ("" none: the language is detected).
    default_language: Mapped[str] = mapped_column(String(8), nullable=False, server_default="")

    # Not unique: the replica takes what the events say, in whatever order they arrive.
    __table_args__ = (Index("ix_accounts_username_lower", func.lower(username)),)


class Follow(Base):
    """The follow graph. An unfollow keeps the row (`active` false) with the time of the event, so
    a follow and an unfollow of one pair delivered out of order still end in the later state."""

    __tablename__ = "follows"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    target_account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    # Fan-out on write reads a poster's followers.
    __table_args__ = (Index("ix_follows_target_account_id", "target_account_id", "account_id"),)


# -- statuses ---------------------------------------------------------------------------------


class Status(Base):
    __tablename__ = "statuses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)  # as typed, for edits and redrafts
    content: Mapped[str] = mapped_column(Text, nullable=False)  # rendered, sanitised HTML
    spoiler_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    visibility: Mapped[str] = mapped_column(String(10), nullable=False)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    in_reply_to_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    in_reply_to_account_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # What a page renders without a query per status: [{"id", "username", "acct", "url"}] and the
    # hashtag names, as of the latest version of the text.
    mentions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    replies_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reblogs_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    favourites_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Grows with every edit (and once more on delete): consumers drop older snapshots by it.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # The posting application's numeric id, as digits (rows from before held its OAuth client id).
    application_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        # An account's statuses, newest first.
        Index("ix_statuses_account_id_id", "account_id", "id"),
        # A thread's replies (context, counts).
        Index("ix_statuses_in_reply_to_id", "in_reply_to_id", "id"),
    )


# The public timeline: public statuses that are not replies to someone else (Mastodon's default),
# newest first. Queries repeat this predicate word for word so both planners use the index.
def in_public_timeline(table: FromClause) -> ColumnElement[bool]:
    return (table.c.visibility == "public") & or_(
        table.c.in_reply_to_account_id.is_(None), table.c.in_reply_to_account_id == table.c.account_id
    )


Index(
    "ix_statuses_public_timeline",
    Status.__table__.c.id,
    postgresql_where=in_public_timeline(Status.__table__),
    sqlite_where=in_public_timeline(Status.__table__),
)


class Mention(Base):
    """Who a status mentions: they may see it whatever its visibility. Mentions dropped by an edit
    stay (`silent`), so an edit never takes a post away from someone it was addressed to."""

    __tablename__ = "mentions"

    status_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    silent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (Index("ix_mentions_account_id", "account_id", "status_id"),)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)  # lower case
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class StatusTag(Base):
    __tablename__ = "status_tags"

    tag_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)

    __table_args__ = (Index("ix_status_tags_status_id", "status_id"),)


class StatusEdit(Base):
    """One revision of an edited status (the original is recorded at the first edit)."""

    __tablename__ = "status_edits"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    spoiler_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_status_edits_status_id", "status_id", "id"),)


class Favourite(Base):
    __tablename__ = "favourites"

    # Also the cursor of `favourited_by`.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        # The viewer's `favourited` flag, and idempotent favouriting.
        Index("uq_favourites_status_account", "status_id", "account_id", unique=True),
        Index("ix_favourites_status_id_id", "status_id", "id"),
        Index("ix_favourites_account_id", "account_id", "id"),
    )


class HomeFeed(Base):
    """Fan-out on write: one row per (reader, status) for every status in a reader's home timeline,
    written in the transaction that creates the status. A page of the home timeline is then one
    range of this primary key, whatever the number of statuses and follows."""

    __tablename__ = "home_feed"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ScheduledStatus(Base):
    __tablename__ = "scheduled_statuses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The creation parameters, as Mastodon's ScheduledStatus `params` shows them.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_scheduled_statuses_account_id_id", "account_id", "id"),
        Index("ix_scheduled_statuses_scheduled_at", "scheduled_at"),
    )


class IdempotencyKey(Base):
    """`Idempotency-Key` of a status creation: a retry within the hour gets the same result."""

    __tablename__ = "idempotency_keys"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    status_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    scheduled_status_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)


__all__ = [
    "OPEN_VISIBILITIES",
    "VISIBILITIES",
    "Account",
    "Base",
    "Favourite",
    "Follow",
    "HomeFeed",
    "IdempotencyKey",
    "Mention",
    "ScheduledStatus",
    "Status",
    "StatusEdit",
    "StatusTag",
    "Tag",
    "in_public_timeline",
    "messaging",
]
