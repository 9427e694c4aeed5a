"""The newest version applied of each aggregate whose events this service consumes (the shared
rule that drops stale events, `microblog_common.events.versions`).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from microblog_common.migrations import create_applied_versions_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_applied_versions_table(op)


def downgrade() -> None:
    op.drop_table("applied_versions")
