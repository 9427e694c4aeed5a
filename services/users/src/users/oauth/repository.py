"""Every query on OAuth applications and authorization codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from microblog_common.sql import affected_rows
from users.models import AccessToken, Application, AuthorizationCode


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


@dataclass(frozen=True)
class AuthorizedApplication:
    application: Application
    scopes: frozenset[str]
    authorized_at: datetime
    last_used_at: datetime | None


def authorized_applications(session: Session, account_id: int, now: datetime) -> list[AuthorizedApplication]:
    """The apps holding a live token for the account (newest authorisation first): the scopes of
    all their tokens together, when the first was issued and when any was last used."""
    live = (
        select(
            AccessToken.application_id,
            func.min(AccessToken.created_at).label("authorized_at"),
            func.max(AccessToken.last_used_at).label("last_used_at"),
        )
        .where(
            AccessToken.account_id == account_id,
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at > now,
        )
        .group_by(AccessToken.application_id)
        .subquery()
    )
    rows = session.execute(
        select(Application, live.c.authorized_at, live.c.last_used_at)
        .join(live, live.c.application_id == Application.id)
        .order_by(live.c.authorized_at.desc())
    ).all()
    scopes: dict[int, set[str]] = {}
    for application_id, granted in session.execute(
        select(AccessToken.application_id, AccessToken.scopes).where(
            AccessToken.account_id == account_id,
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at > now,
        )
    ):
        scopes.setdefault(application_id, set()).update(granted.split())
    return [
        AuthorizedApplication(app, frozenset(scopes.get(app.id, ())), authorized_at, last_used_at)
        for app, authorized_at, last_used_at in rows
    ]
