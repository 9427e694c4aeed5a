"""Alembic helpers: each service keeps its own migrations; these remove the repeated parts."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.operations import Operations

from microblog_common.settings import normalise_database_url


def alembic_config(script_location: Path, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", normalise_database_url(database_url).replace("%", "%%"))
    return cfg


# Alembic keeps the running migration's context in a module global, so two services migrating in one
# process (the embedded mode) must take turns.
_alembic_lock = threading.Lock()


def upgrade_to_head(script_location: Path, database_url: str) -> None:
    with _alembic_lock:
        command.upgrade(alembic_config(script_location, database_url), "head")


def run_env(target_metadata: sa.MetaData) -> None:
    """The body of every service's `env.py` (online mode; the URL comes from the config or
    DATABASE_URL)."""
    from alembic import context

    config = context.config
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    engine = sa.create_engine(normalise_database_url(url), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def create_messaging_tables(op: Operations) -> None:
    """Outbox and inbox, as in `events/tables.py`; called from each service's first migration."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_inbox_handled_at", "inbox", ["handled_at"])


def create_applied_versions_table(op: Operations) -> None:
    """The newest version applied per aggregate (`events/versions.py`); every consuming service."""
    op.create_table(
        "applied_versions",
        sa.Column("aggregate", sa.String(50), primary_key=True),
        sa.Column("subject", sa.String(100), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )


def drop_messaging_tables(op: Operations) -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
