"""Tables the translate service owns: what it keeps of other services' data (statuses, the
viewer's languages, follows: from events), the translation cache, and the per-account counters of
the translation rate limit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from microblog_common.db import UTCDateTime
from microblog_common.events import MessagingTables

# BCP 47 tags are at most 35 characters in practice (RFC 5646 §4.4.1).
LANGUAGE_LENGTH = 35


class Base(DeclarativeBase):
    pass


messaging = MessagingTables(Base.metadata)


class Status(Base):
    """Replica of a status, from `post.published`/`post.updated` (the whole snapshot each time):
    what translating it and deciding who may see it need."""

    __tablename__ = "statuses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    visibility: Mapped[str] = mapped_column(String(16), nullable=False)
    language: Mapped[str | None] = mapped_column(String(LANGUAGE_LENGTH))
    content: Mapped[str] = mapped_column(Text, nullable=False)  # HTML, as clients see it
    spoiler_text: Mapped[str] = mapped_column(Text, nullable=False)
    # Ids of the accounts it mentions (they may see it whatever its visibility).
    mentioned_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class Account(Base):
    """Replica of what the translate service needs of an account: the languages a translation
    for it defaults to."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    locale: Mapped[str | None] = mapped_column(String(LANGUAGE_LENGTH))  # from user.registered
    default_language: Mapped[str | None] = mapped_column(String(LANGUAGE_LENGTH))  # source[language]


class Follow(Base):
    """Replica of the follow graph (active follows only): who may see a followers-only status."""

    __tablename__ = "follows"
    __table_args__ = (Index("ix_follows_target_account_id", "target_account_id"),)

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    target_account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class CachedTranslation(Base):
    """One translated text (a status's content or its content warning), keyed by provider, source,
    target and a hash of the text: the same text is sent to the provider once, whichever status
    carries it. `status_id` is the status whose translation wrote the entry: it goes when that
    status is edited or deleted, and every entry when it expires."""

    __tablename__ = "translations"
    __table_args__ = (
        Index("ix_translations_expires_at", "expires_at"),
        Index("ix_translations_status_id", "status_id"),
    )

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "" when the provider detected the language (the status had none).
    source_language: Mapped[str] = mapped_column(String(LANGUAGE_LENGTH), primary_key=True)
    target_language: Mapped[str] = mapped_column(String(LANGUAGE_LENGTH), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of kind and text, hex
    translated: Mapped[str] = mapped_column(Text, nullable=False)
    detected_language: Mapped[str | None] = mapped_column(String(LANGUAGE_LENGTH))
    status_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RateWindow(Base):
    """How many translations an account (or an app-only token) had translated by the provider in
    one fixed window of the rate limit."""

    __tablename__ = "translation_rate_windows"
    __table_args__ = (Index("ix_translation_rate_windows_window_start", "window_start"),)

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
