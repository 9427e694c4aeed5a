"""Statuses, edits, mentions, hashtags, favourites, home feeds, scheduled statuses, idempotency
keys, and the replica of accounts and follows.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)
PUBLIC_TIMELINE = sa.text(
    "visibility = 'public' AND (in_reply_to_account_id IS NULL OR in_reply_to_account_id = account_id)"
)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("username", sa.String(30), nullable=False),
        sa.Column("acct", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("avatar", sa.String(2000), nullable=False),
        sa.Column("avatar_static", sa.String(2000), nullable=False),
        sa.Column("header", sa.String(2000), nullable=False),
        sa.Column("locked", sa.Boolean, nullable=False),
        sa.Column("bot", sa.Boolean, nullable=False),
        sa.Column("discoverable", sa.Boolean, nullable=False),
        sa.Column("indexable", sa.Boolean, nullable=False),
        sa.Column("hide_collections", sa.Boolean, nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("followers_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("following_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("statuses_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status_at", UTC_TIME, nullable=True),
    )
    op.create_index("ix_accounts_username_lower", "accounts", [sa.text("lower(username)")])

    op.create_table(
        "follows",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("target_account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("changed_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_follows_target_account_id", "follows", ["target_account_id", "account_id"])

    op.create_table(
        "statuses",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("spoiler_text", sa.Text, nullable=False),
        sa.Column("sensitive", sa.Boolean, nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("in_reply_to_id", sa.BigInteger, nullable=True),
        sa.Column("in_reply_to_account_id", sa.BigInteger, nullable=True),
        sa.Column("mentions", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("replies_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reblogs_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("favourites_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("application_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("edited_at", UTC_TIME, nullable=True),
    )
    op.create_index("ix_statuses_account_id_id", "statuses", ["account_id", "id"])
    op.create_index("ix_statuses_in_reply_to_id", "statuses", ["in_reply_to_id", "id"])
    op.create_index(
        "ix_statuses_public_timeline",
        "statuses",
        ["id"],
        postgresql_where=PUBLIC_TIMELINE,
        sqlite_where=PUBLIC_TIMELINE,
    )

    op.create_table(
        "mentions",
        sa.Column("status_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("silent", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_mentions_account_id", "mentions", ["account_id", "status_id"])

    op.create_table(
        "tags",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "status_tags",
        sa.Column("tag_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("status_id", sa.BigInteger, primary_key=True, autoincrement=False),
    )
    op.create_index("ix_status_tags_status_id", "status_tags", ["status_id"])

    op.create_table(
        "status_edits",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("status_id", sa.BigInteger, nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("spoiler_text", sa.Text, nullable=False),
        sa.Column("sensitive", sa.Boolean, nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_status_edits_status_id", "status_edits", ["status_id", "id"])

    op.create_table(
        "favourites",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("status_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_index("uq_favourites_status_account", "favourites", ["status_id", "account_id"], unique=True)
    op.create_index("ix_favourites_status_id_id", "favourites", ["status_id", "id"])
    op.create_index("ix_favourites_account_id", "favourites", ["account_id", "id"])

    op.create_table(
        "home_feed",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("status_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("author_id", sa.BigInteger, nullable=False),
    )

    op.create_table(
        "scheduled_statuses",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("scheduled_at", UTC_TIME, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_scheduled_statuses_account_id_id", "scheduled_statuses", ["account_id", "id"])
    op.create_index("ix_scheduled_statuses_scheduled_at", "scheduled_statuses", ["scheduled_at"])

    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("status_id", sa.BigInteger, nullable=True),
        sa.Column("scheduled_status_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    for table in (
        "idempotency_keys",
        "scheduled_statuses",
        "home_feed",
        "favourites",
        "status_edits",
        "status_tags",
        "tags",
        "mentions",
        "statuses",
        "follows",
        "accounts",
    ):
        op.drop_table(table)
