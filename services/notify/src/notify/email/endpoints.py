"""Email preferences (`/api/v1/notifications/email_preferences`, an extension of the Mastodon API)
and the one-click unsubscribe links every activity email carries (`/unsubscribe`, no sign-in: the
link's token is the authority). A GET shows a page with a button (link scanners fetch links; they
must not unsubscribe anyone); a POST unsubscribes, from that button or from a mail client's
RFC 8058 one-click (`List-Unsubscribe=One-Click`)."""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, StrictBool

from microblog_common.db import SessionDep
from microblog_common.internal_auth import Identity, require_user
from microblog_common.params import body
from notify.email import preferences
from notify.runtime import RuntimeDep

router = APIRouter(tags=["email"])
MAX_TOKEN_LENGTH = 64


class PreferencesUpdate(BaseModel):
    """Any of the types; booleans as JSON or as a form's `true`/`false`/`1`/`0`."""

    model_config = ConfigDict(extra="ignore")

    follow: bool | None = None
    mention: bool | None = None
    favourite: bool | None = None


class EmailPreferencesEntity(BaseModel):
    follow: StrictBool
    mention: StrictBool
    favourite: StrictBool


@router.get("/api/v1/notifications/email_preferences", response_model=EmailPreferencesEntity)
def get_preferences(
    session: SessionDep, identity: Annotated[Identity, Depends(require_user("read", "read:notifications"))]
) -> dict[str, bool]:
    assert identity.user_id is not None
    return preferences.as_dict(preferences.get(session, identity.user_id))


@router.patch("/api/v1/notifications/email_preferences", response_model=EmailPreferencesEntity)
def update_preferences(
    session: SessionDep,
    identity: Annotated[Identity, Depends(require_user("write", "write:notifications"))],
    changes: Annotated[PreferencesUpdate, body(PreferencesUpdate)],
) -> dict[str, bool]:
    assert identity.user_id is not None
    given = {k: v for k, v in changes.model_dump().items() if v is not None}
    return preferences.as_dict(preferences.update(session, identity.user_id, given))


def _page(runtime: Any, title: str, body_html: str, status: int = 200) -> HTMLResponse:
    instance = html.escape(runtime.settings.instance_title)
    return HTMLResponse(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)} - {instance}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
        "<body style='font-family:sans-serif;max-width:480px;margin:48px auto;padding:0 16px'>"
        f"<p><a href='{html.escape(runtime.urls.base)}/'>{instance}</a></p>"
        f"<h1>{html.escape(title)}</h1>{body_html}"
        "</body></html>",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _kind(kind: str | None) -> str | None:
    return kind if kind in preferences.KINDS else None


TokenParam = Annotated[str, Query(max_length=MAX_TOKEN_LENGTH)]
KindParam = Annotated[str | None, Query(alias="type")]


@router.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_page(
    session: SessionDep, runtime: RuntimeDep, token: TokenParam = "", kind: KindParam = None
) -> HTMLResponse:
    wanted = _kind(kind)
    if not token or wanted is None or preferences.by_token(session, token) is None:
        return _page(runtime, "Invalid link", "<p>This unsubscribe link is not valid.</p>", 404)
    action = html.escape(f"{runtime.urls.base}/unsubscribe?token={token}&type={wanted}")
    return _page(
        runtime,
        "Unsubscribe",
        f"<p>Stop the <strong>{html.escape(wanted)}</strong> notification emails?</p>"
        f"<form method='post' action='{action}'><button type='submit'>Unsubscribe</button></form>",
    )


@router.post("/unsubscribe", response_class=HTMLResponse)
def unsubscribe(
    session: SessionDep, runtime: RuntimeDep, token: TokenParam = "", kind: KindParam = None
) -> HTMLResponse:
    """Honoured for any body (RFC 8058 sends `List-Unsubscribe=One-Click`; the page's form, nothing)."""
    wanted = _kind(kind)
    row = preferences.by_token(session, token) if token and wanted else None
    if row is None or wanted is None:
        return _page(runtime, "Invalid link", "<p>This unsubscribe link is not valid.</p>", 404)
    preferences.update(session, row.account_id, {wanted: False})
    return _page(
        runtime,
        "Unsubscribed",
        f"<p>You will no longer get <strong>{html.escape(wanted)}</strong> notification emails.</p>",
    )
