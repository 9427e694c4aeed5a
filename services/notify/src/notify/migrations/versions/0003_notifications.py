"""Notifications, markers, email preferences and the email queue, suppressed addresses, live-stream
presence, and the replica of accounts, follows, statuses and favourites.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("username", sa.String(length=30), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("followers_count", sa.Integer(), nullable=False),
        sa.Column("following_count", sa.Integer(), nullable=False),
        sa.Column("statuses_count", sa.Integer(), nullable=False),
        sa.Column("last_status_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "email_preferences",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("follow", sa.Boolean(), nullable=False),
        sa.Column("mention", sa.Boolean(), nullable=False),
        sa.Column("favourite", sa.Boolean(), nullable=False),
        sa.Column("unsubscribe_token", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
        sa.UniqueConstraint("unsubscribe_token"),
    )
    op.create_table(
        "emails",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_key", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest_key"),
    )
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.create_index("ix_emails_account_kind", ["account_id", "kind", "id"], unique=False)
        batch_op.create_index("ix_emails_due", ["state", "due_at"], unique=False)

    op.create_table(
        "favourites",
        sa.Column("status_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("status_id", "account_id"),
    )
    with op.batch_alter_table("favourites", schema=None) as batch_op:
        batch_op.create_index("ix_favourites_account_id", ["account_id"], unique=False)

    op.create_table(
        "follows",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("target_account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "target_account_id"),
    )
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follows_target_account_id", ["target_account_id", "account_id"], unique=False
        )

    op.create_table(
        "markers",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("timeline", sa.String(length=20), nullable=False),
        sa.Column("last_read_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "timeline"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("from_account_id", sa.BigInteger(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=True),
        sa.Column("group_key", sa.String(length=80), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("email_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_account_group", ["account_id", "group_key", "id"], unique=False
        )
        batch_op.create_index("ix_notifications_account_id_id", ["account_id", "id"], unique=False)
        batch_op.create_index("ix_notifications_email_id", ["email_id"], unique=False)
        batch_op.create_index("ix_notifications_from_account_id", ["from_account_id"], unique=False)
        batch_op.create_index("ix_notifications_status_id", ["status_id"], unique=False)
        batch_op.create_index("uq_notifications_dedupe", ["account_id", "dedupe_key"], unique=True)

    op.create_table(
        "statuses",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("in_reply_to_id", sa.BigInteger(), nullable=True),
        sa.Column("in_reply_to_account_id", sa.BigInteger(), nullable=True),
        sa.Column("mentioned_ids", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("replies_count", sa.Integer(), nullable=False),
        sa.Column("favourites_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("statuses", schema=None) as batch_op:
        batch_op.create_index("ix_statuses_account_id", ["account_id", "id"], unique=False)
        batch_op.create_index("ix_statuses_in_reply_to_id", ["in_reply_to_id"], unique=False)

    op.create_table(
        "stream_presence",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("replica", sa.String(length=80), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "replica"),
    )
    with op.batch_alter_table("stream_presence", schema=None) as batch_op:
        batch_op.create_index("ix_stream_presence_replica", ["replica"], unique=False)

    op.create_table(
        "suppressed_addresses",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )


def downgrade() -> None:
    op.drop_table("suppressed_addresses")
    with op.batch_alter_table("stream_presence", schema=None) as batch_op:
        batch_op.drop_index("ix_stream_presence_replica")

    op.drop_table("stream_presence")
    with op.batch_alter_table("statuses", schema=None) as batch_op:
        batch_op.drop_index("ix_statuses_in_reply_to_id")
        batch_op.drop_index("ix_statuses_account_id")

    op.drop_table("statuses")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("uq_notifications_dedupe")
        batch_op.drop_index("ix_notifications_status_id")
        batch_op.drop_index("ix_notifications_from_account_id")
        batch_op.drop_index("ix_notifications_email_id")
        batch_op.drop_index("ix_notifications_account_id_id")
        batch_op.drop_index("ix_notifications_account_group")

    op.drop_table("notifications")
    op.drop_table("markers")
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.drop_index("ix_follows_target_account_id")

    op.drop_table("follows")
    with op.batch_alter_table("favourites", schema=None) as batch_op:
        batch_op.drop_index("ix_favourites_account_id")

    op.drop_table("favourites")
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_index("ix_emails_due")
        batch_op.drop_index("ix_emails_account_kind")

    op.drop_table("emails")
    op.drop_table("email_preferences")
    op.drop_table("accounts")
