"""Tables the search service owns: its replica of what the posts and users services publish (the
source every search document is built from, and what results are rendered from), the queue of
documents to (re)index, and the index generations.

The replica keeps tombstones (`deleted`), so a deletion carries a document revision higher than
anything indexed before it. `revision` grows with every change of a document (an edit, a
favourite, a new display name, a deletion): it is the external version the index is written with,
so an older write can never overwrite a newer one."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from microblog_common.db import UTCDateTime
from microblog_common.events import MessagingTables

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGSERIAL.
AutoBigInteger = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


messaging = MessagingTables(Base.metadata)

STATUS = "status"
ACCOUNT = "account"


class Status(Base):
    """A status as its latest `post.*` snapshot described it (`snapshot`, the contract's JSON)."""

    __tablename__ = "statuses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    visibility: Mapped[str] = mapped_column(String(10), nullable=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The rebuild that last saw this status in the posts service's export (see `rebuild.py`).
    rebuild_mark: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_statuses_account_id", "account_id", "id"),)


class Account(Base):
    """An account as its latest `user.*` snapshot described it, plus the counts kept here."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(30), nullable=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    followers_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    following_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    statuses_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    rebuild_mark: Mapped[int | None] = mapped_column(Integer, nullable=True)

    # `@user` and `from:user` resolve by name.
    __table_args__ = (Index("ix_accounts_username_lower", func.lower(username)),)


class Follow(Base):
    """The follow graph (`following=true`, followed accounts first). An unfollow keeps the row."""

    __tablename__ = "follows"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    target_account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)

    __table_args__ = (Index("ix_follows_target_account_id", "target_account_id", "account_id"),)


class Favourite(Base):
    """Who favourited what (`in:library`); `at` is the newest favourite or unfavourite seen, so an
    older event arriving late changes nothing."""

    __tablename__ = "favourites"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_favourites_status_id", "status_id", "account_id"),)


class TagUse(Base):
    """One public or unlisted status carrying a hashtag: the counts of the Tag entity's history."""

    __tablename__ = "tag_uses"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # lower case
    status_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)

    __table_args__ = (Index("ix_tag_uses_status_id", "status_id"), Index("ix_tag_uses_day", "name", "day"))


class IndexChange(Base):
    """A document to bring up to date in the index: written in the transaction that changed the
    replica, removed once the index has the change (`indexing/indexer.py`)."""

    __tablename__ = "index_changes"

    seq: Mapped[int] = mapped_column(AutoBigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # STATUS or ACCOUNT
    doc_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# An index generation's `state`.
REQUESTED, BUILDING, CURRENT, RETIRED = "requested", "building", "current", "retired"


class IndexGeneration(Base):
    """An index built from the whole replica (`python -m search.manage rebuild`): `requested`,
    then `building` while the event lane fills it (and writes every change to it too), then
    `current` once searches were switched to it; the one before becomes `retired`."""

    __tablename__ = "index_generations"

    id: Mapped[int] = mapped_column(AutoBigInteger, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(10), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # How far the build has read each table (ids ascending).
    statuses_after: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    accounts_after: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    documents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("uq_index_generations_name", "name", unique=True),)
