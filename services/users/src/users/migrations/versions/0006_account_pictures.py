"""Uploaded avatars and headers: each account's storage keys (and those of their stills).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("avatar_key", "avatar_static_key", "header_key", "header_static_key")


def upgrade() -> None:
    # Plain ADD COLUMN: SQLite's batch mode would rebuild the table and lose its expression index.
    for name in COLUMNS:
        op.add_column("accounts", sa.Column(name, sa.String(200), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("accounts", name)
