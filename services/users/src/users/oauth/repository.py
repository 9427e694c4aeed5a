"""Every query on OAuth applications and authorization codes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

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
