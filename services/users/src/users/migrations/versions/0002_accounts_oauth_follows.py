"""Accounts and credentials, OAuth apps, codes and tokens, signing keys, the revocation feed,
follows, password-reset tokens.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{table}.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, primary_key=True),
        sa.Column("username", sa.String(30), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("note_html", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("bot", sa.Boolean(), nullable=False),
        sa.Column("discoverable", sa.Boolean(), nullable=False),
        sa.Column("indexable", sa.Boolean(), nullable=False),
        sa.Column("hide_collections", sa.Boolean(), nullable=False),
        sa.Column("default_privacy", sa.String(10), nullable=False),
        sa.Column("default_sensitive", sa.Boolean(), nullable=False),
        sa.Column("default_language", sa.String(8), nullable=False),
        sa.Column("followers_count", sa.Integer(), nullable=False),
        sa.Column("following_count", sa.Integer(), nullable=False),
        sa.Column("statuses_count", sa.Integer(), nullable=False),
        sa.Column("last_status_at", TZ, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_accounts_username_lower", "accounts", [sa.text("lower(username)")], unique=True)

    op.create_table(
        "users",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("password_changed_at", TZ, nullable=False),
        _fk("account_id", "accounts"),
    )

    op.create_table(
        "oauth_applications",
        sa.Column("id", sa.BigInteger(), autoincrement=False, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("website", sa.String(2000), nullable=True),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(2000), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("client_secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )

    op.create_table(
        "oauth_authorization_codes",
        sa.Column("id", sa.BigInteger(), autoincrement=False, primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(2000), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=True),
        sa.Column("code_challenge_method", sa.String(10), nullable=True),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.Column("access_token_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        _fk("application_id", "oauth_applications"),
        _fk("account_id", "accounts"),
    )

    op.create_table(
        "oauth_access_tokens",
        sa.Column("id", sa.BigInteger(), autoincrement=False, primary_key=True),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("scopes", sa.String(2000), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("refresh_token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("refresh_expires_at", TZ, nullable=True),
        sa.Column("refresh_family_id", sa.BigInteger(), nullable=True),
        sa.Column("refreshed_at", TZ, nullable=True),
        _fk("application_id", "oauth_applications"),
        _fk("account_id", "accounts"),
    )
    op.create_index("ix_oauth_access_tokens_application_id", "oauth_access_tokens", ["application_id"])
    op.create_index("ix_oauth_access_tokens_account_id", "oauth_access_tokens", ["account_id"])
    op.create_index("ix_oauth_access_tokens_refresh_family_id", "oauth_access_tokens", ["refresh_family_id"])

    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("retired_at", TZ, nullable=True),
    )

    op.create_table(
        "token_revocations",
        sa.Column(
            "cursor",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            primary_key=True,
        ),
        sa.Column("jti", sa.String(32), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_token_revocations_expires_at", "token_revocations", ["expires_at"])

    op.create_table(
        "follows",
        sa.Column("id", sa.BigInteger(), autoincrement=False, primary_key=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("target_account_id", sa.BigInteger(), nullable=False),
        sa.Column("show_reblogs", sa.Boolean(), nullable=False),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        _fk("account_id", "accounts"),
        _fk("target_account_id", "accounts"),
        sa.UniqueConstraint("account_id", "target_account_id", name="uq_follows_pair"),
    )
    op.create_index("ix_follows_account_id_id", "follows", ["account_id", "id"])
    op.create_index("ix_follows_target_account_id_id", "follows", ["target_account_id", "id"])

    op.create_table(
        "password_reset_tokens",
        sa.Column("id", sa.BigInteger(), autoincrement=False, primary_key=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        _fk("account_id", "accounts"),
    )
    op.create_index("ix_password_reset_tokens_account_id", "password_reset_tokens", ["account_id"])


def downgrade() -> None:
    for table in (
        "password_reset_tokens",
        "follows",
        "token_revocations",
        "signing_keys",
        "oauth_access_tokens",
        "oauth_authorization_codes",
        "oauth_applications",
        "users",
        "accounts",
    ):
        op.drop_table(table)
