"""Password-reset requests per address, for the per-address limit.

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
        "password_reset_requests",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_password_reset_requests_address", "password_reset_requests", ["address_hash", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("password_reset_requests")
