"""Follow pair versions (the follow events' aggregate version) and the statuses counted towards
each account's `statuses_count`, kept from the posts service's events.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follow_versions",
        sa.Column("account_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("target_account_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    # The pairs that exist now start at version 1, as their first event did.
    op.execute(
        "INSERT INTO follow_versions (account_id, target_account_id, version) "
        "SELECT account_id, target_account_id, 1 FROM follows"
    )
    op.create_table(
        "account_statuses",
        sa.Column("status_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_account_statuses_account_id", "account_statuses", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_account_statuses_account_id", "account_statuses")
    op.drop_table("account_statuses")
    op.drop_table("follow_versions")
