"""Email preferences per account and type, and the token of the one-click unsubscribe links."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from microblog_common.sql import dialect_insert
from notify.models import EmailPreferences

# Mastodon's defaults: follows and mentions on, favourites off.
DEFAULTS: dict[str, bool] = {"follow": True, "mention": True, "favourite": False}
KINDS = tuple(DEFAULTS)


def get(session: Session, account_id: int) -> EmailPreferences | None:
    return session.get(EmailPreferences, account_id)


def wants(session: Session, account_id: int, kind: str) -> bool:
    row = get(session, account_id)
    return bool(getattr(row, kind)) if row is not None else DEFAULTS[kind]


def ensure(session: Session, account_id: int) -> EmailPreferences:
    """The account's row, made with the defaults (and a fresh unsubscribe token) the first time."""
    stmt = dialect_insert(session)(EmailPreferences).values(
        account_id=account_id,
        **DEFAULTS,
        unsubscribe_token=secrets.token_urlsafe(32),
        updated_at=datetime.now(UTC),
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["account_id"]))
    row = session.get(EmailPreferences, account_id, populate_existing=True)
    assert row is not None
    return row


def update(session: Session, account_id: int, changes: dict[str, bool]) -> EmailPreferences:
    row = ensure(session, account_id)
    for kind, value in changes.items():
        setattr(row, kind, value)
    row.updated_at = datetime.now(UTC)
    session.flush()
    return row


_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def by_token(session: Session, token: str) -> EmailPreferences | None:
    if not _TOKEN.fullmatch(token):
        return None  # not a token this service makes (and nothing a database should be asked about)
    return session.scalar(select(EmailPreferences).where(EmailPreferences.unsubscribe_token == token))


def as_dict(row: EmailPreferences | None) -> dict[str, bool]:
    return {
        kind: bool(getattr(row, kind)) if row is not None else default for kind, default in DEFAULTS.items()
    }
