"""The newest version applied of each aggregate whose events this service consumes (the shared
rule that drops stale events, `microblog_common.events.versions`).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from microblog_common.migrations import create_applied_versions_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_applied_versions_table(op)


def downgrade() -> None:
    op.drop_table("applied_versions")
