"""The replica the search documents are built from (statuses, accounts, follows, favourites,
hashtag uses), the queue of documents to index and the index generations.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from microblog_common.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

AutoBigInteger = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "statuses",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("snapshot", sa.JSON, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("rebuild_mark", sa.Integer, nullable=True),
    )
    op.create_index("ix_statuses_account_id", "statuses", ["account_id", "id"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("username", sa.String(30), nullable=False),
        sa.Column("snapshot", sa.JSON, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("followers_count", sa.Integer, nullable=False),
        sa.Column("following_count", sa.Integer, nullable=False),
        sa.Column("statuses_count", sa.Integer, nullable=False),
        sa.Column("last_status_at", UTCDateTime, nullable=True),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("rebuild_mark", sa.Integer, nullable=True),
    )
    op.create_index("ix_accounts_username_lower", "accounts", [sa.text("lower(username)")])
    op.create_table(
        "follows",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("target_account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_follows_target_account_id", "follows", ["target_account_id", "account_id"])
    op.create_table(
        "favourites",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("status_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_favourites_status_id", "favourites", ["status_id", "account_id"])
    op.create_table(
        "tag_uses",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("status_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
    )
    op.create_index("ix_tag_uses_status_id", "tag_uses", ["status_id"])
    op.create_index("ix_tag_uses_day", "tag_uses", ["name", "day"])
    op.create_table(
        "index_changes",
        sa.Column("seq", AutoBigInteger, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("doc_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "index_generations",
        sa.Column("id", AutoBigInteger, primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("statuses_after", sa.BigInteger, nullable=False),
        sa.Column("accounts_after", sa.BigInteger, nullable=False),
        sa.Column("documents", sa.BigInteger, nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("uq_index_generations_name", "index_generations", ["name"], unique=True)


def downgrade() -> None:
    for table in (
        "index_generations",
        "index_changes",
        "tag_uses",
        "favourites",
        "follows",
        "accounts",
        "statuses",
    ):
        op.drop_table(table)
