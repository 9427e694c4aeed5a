"""The outbox, inbox and applied-versions tables, added to each service's own metadata (each service
has its own database, so the names never clash)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text


class MessagingTables:
    def __init__(self, metadata: MetaData):
        self.outbox = Table(
            "outbox",
            metadata,
            Column("id", String(36), primary_key=True),
            Column("type", String(100), nullable=False),
            Column("subject", String(100), nullable=False),
            Column("payload", Text, nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False),
            Column("published_at", DateTime(timezone=True), nullable=True),
            Column("locked_until", DateTime(timezone=True), nullable=True),
            Column("attempts", Integer, nullable=False, default=0),
            Column("last_error", Text, nullable=True),
        )
        Index(
            "ix_outbox_unpublished",
            self.outbox.c.created_at,
            postgresql_where=self.outbox.c.published_at.is_(None),
            sqlite_where=self.outbox.c.published_at.is_(None),
        )
        Index("ix_outbox_published_at", self.outbox.c.published_at)
        self.inbox = Table(
            "inbox",
            metadata,
            Column("event_id", String(36), primary_key=True),
            Column("event_type", String(100), nullable=False),
            Column("handled_at", DateTime(timezone=True), nullable=False),
        )
        Index("ix_inbox_handled_at", self.inbox.c.handled_at)
        # The newest version of each aggregate this service has applied (see `events/versions.py`).
        self.applied_versions = Table(
            "applied_versions",
            metadata,
            Column("aggregate", String(50), primary_key=True),
            Column("subject", String(100), primary_key=True),
            Column("version", BigInteger, nullable=False),
        )
