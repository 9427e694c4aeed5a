"""Every query on OAuth applications and authorization codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from microblog_common.sql import affected_rows
from users.models import Application, AuthorizationCode


def add_application(session: Session, app: Application) -> Application:
    session.add(app)
    session.flush()
    return app


def application_by_client_id(session: Session, client_id: str) -> Application | None:
    return session.scalars(select(Application).where(Application.client_id == client_id)).first()


def get_application(session: Session, application_id: int) -> Application | None:
    return session.get(Application, application_id)


def delete_application(session: Session, app: Application) -> None:
    session.delete(app)
    session.flush()


def add_code(session: Session, code: AuthorizationCode) -> AuthorizationCode:
    session.add(code)
    session.flush()
    return code


def code_by_hash(session: Session, code_hash: str) -> AuthorizationCode | None:
    # FOR UPDATE: a code is exchanged once, even by concurrent requests.
    stmt = select(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash).with_for_update()
    return session.scalars(stmt).first()


def delete_pending_codes(session: Session, account_id: int, application_id: int | None = None) -> int:
    """Codes not yet exchanged, of the account (for one app, or all). Exchanged ones stay: a replay
    of one still has to be recognised."""
    stmt = delete(AuthorizationCode).where(
        AuthorizationCode.account_id == account_id, AuthorizationCode.used_at.is_(None)
    )
    if application_id is not None:
        stmt = stmt.where(AuthorizationCode.application_id == application_id)
    return affected_rows(session.execute(stmt))


def prune_codes(session: Session, expired_before: datetime) -> int:
    """Codes that expired before the cutoff, exchanged or not: past it, a replay of one is just an
    unknown code (its token was issued long ago and stays valid until revoked)."""
    stmt = delete(AuthorizationCode).where(AuthorizationCode.expires_at < expired_before)
    return int(affected_rows(session.execute(stmt)))
