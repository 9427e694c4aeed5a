"""Sessions, the web UI's OAuth application, account interface languages.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("access_token", sa.Text, nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("csrf_secret", sa.String(64), nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sessions_account_id", "sessions", ["account_id"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_table(
        "oauth_clients",
        sa.Column("redirect_uri", sa.String(500), primary_key=True),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("client_secret", sa.Text, nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "account_preferences",
        sa.Column("account_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("account_preferences")
    op.drop_table("oauth_clients")
    op.drop_table("sessions")
