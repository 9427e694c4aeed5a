"""The replica's still header (`header_static`) and the author's default language
(`source[language]`), both from the account snapshot.

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
    # Plain ADD COLUMN, as in 0003 (SQLite's batch mode would lose the expression index).
    op.add_column("accounts", sa.Column("header_static", sa.String(2000), nullable=False, server_default=""))
    op.add_column("accounts", sa.Column("default_language", sa.String(8), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("accounts", "default_language")
    op.drop_column("accounts", "header_static")
