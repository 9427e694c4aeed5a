"""Email preferences per account and type, and the token of the one-click unsubscribe links
(their statements: `email/repository.py`)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from notify.email import repository
from notify.models import EmailPreferences

# Mastodon's defaults: follows and mentions on, favourites off.
DEFAULTS: dict[str, bool] = {"follow": True, "mention": True, "favourite": False}
KINDS = tuple(DEFAULTS)


def get(session: Session, account_id: int) -> EmailPreferences | None:
    return repository.preferences(session, account_id)


def wants(session: Session, account_id: int, kind: str) -> bool:
    row = get(session, account_id)
    return bool(getattr(row, kind)) if row is not None else DEFAULTS[kind]


def ensure(session: Session, account_id: int) -> EmailPreferences:
    """The account's row, made with the defaults (and a fresh unsubscribe token) the first time."""
    return repository.ensure_preferences(
        session, account_id, DEFAULTS, secrets.token_urlsafe(32), datetime.now(UTC)
    )


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
    return repository.preferences_by_token(session, token)


def as_dict(row: EmailPreferences | None) -> dict[str, bool]:
    return {
        kind: bool(getattr(row, kind)) if row is not None else default for kind, default in DEFAULTS.items()
    }
