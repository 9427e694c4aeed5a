"""The replica of statuses, accounts (their languages) and follows; the translation cache; the
translation rate limit's counters.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)
LANGUAGE = sa.String(35)


def upgrade() -> None:
    op.create_table(
        "statuses",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("language", LANGUAGE, nullable=True),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("spoiler_text", sa.Text, nullable=False),
        sa.Column("mentioned_ids", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_statuses_account_id", "statuses", ["account_id"])

    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("locale", LANGUAGE, nullable=True),
        sa.Column("default_language", LANGUAGE, nullable=True),
    )

    op.create_table(
        "follows",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("target_account_id", sa.BigInteger, primary_key=True, autoincrement=False),
    )
    op.create_index("ix_follows_target_account_id", "follows", ["target_account_id"])

    op.create_table(
        "translations",
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("source_language", LANGUAGE, primary_key=True),
        sa.Column("target_language", LANGUAGE, primary_key=True),
        sa.Column("text_hash", sa.String(64), primary_key=True),
        sa.Column("translated", sa.Text, nullable=False),
        sa.Column("detected_language", LANGUAGE, nullable=True),
        sa.Column("status_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_translations_expires_at", "translations", ["expires_at"])
    op.create_index("ix_translations_status_id", "translations", ["status_id"])

    op.create_table(
        "translation_rate_windows",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_index("ix_translation_rate_windows_window_start", "translation_rate_windows", ["window_start"])


def downgrade() -> None:
    op.drop_table("translation_rate_windows")
    op.drop_table("translations")
    op.drop_table("follows")
    op.drop_table("accounts")
    op.drop_table("statuses")
