"""POST /api/v1/auth/password_reset and POST /api/v1/auth/password_reset/confirm."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from microblog_common.db import SessionDep
from microblog_common.internal_auth import client_ip
from microblog_common.openapi import EmptyObject
from microblog_common.params import body
from users.password_reset import service
from users.password_reset.schemas import ResetConfirmForm, ResetRequestForm
from users.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/auth/password_reset", tags=["password reset"])


@router.post("", status_code=202, response_model=EmptyObject)
def request_reset(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    form: Annotated[ResetRequestForm, body(ResetRequestForm)],
) -> JSONResponse:
    """202 whatever the address: the answer never tells whether an account exists."""
    service.request_reset(session, runtime, form.email, client_ip(request))
    return JSONResponse({}, status_code=202)


@router.post("/confirm", response_model=EmptyObject)
def confirm(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    form: Annotated[ResetConfirmForm, body(ResetConfirmForm)],
) -> dict[str, Any]:
    service.confirm_reset(session, runtime, form.token, form.password, client_ip(request))
    return {}
