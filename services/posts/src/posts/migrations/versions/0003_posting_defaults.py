"""The replica's posting defaults of each account (`source[privacy]`, `source[sensitive]`), used
when a post doesn't give its visibility or sensitivity.

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
    # Plain ADD COLUMN (both databases have it): SQLite's batch mode would rebuild the table from
    # its reflection, which loses the expression index on lower(username).
    op.add_column(
        "accounts", sa.Column("default_privacy", sa.String(10), nullable=False, server_default="public")
    )
    op.add_column(
        "accounts", sa.Column("default_sensitive", sa.Boolean, nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("accounts", "default_sensitive")
    op.drop_column("accounts", "default_privacy")
