"""Apps and OAuth 2: POST /api/v1/apps, GET /api/v1/apps/verify_credentials, the sign-in and
consent pages at /oauth/authorize, POST /oauth/token, POST /oauth/revoke, GET /oauth/userinfo,
DELETE /oauth/authorized_applications/:id and the RFC 8414 metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from microblog_common.db import SessionDep
from microblog_common.errors import BadRequest, NotFound, OAuthErrorResponse, Unauthorized
from microblog_common.ids import parse_id
from microblog_common.internal_auth import Identity, client_ip, require_token, require_user
from microblog_common.openapi import EmptyObject
from microblog_common.params import body, request_params, validated
from users import scopes as scope_rules
from users.accounts import service as accounts
from users.accounts.schemas import pictures
from users.oauth import pages, repository, service
from users.oauth.schemas import (
    OOB,
    AppForm,
    ApplicationEntity,
    AuthorizeForm,
    CredentialApplicationEntity,
    OAuthError,
    RevokeForm,
    SignInForm,
    TokenEntity,
    TokenForm,
    invalid_request,
)
from users.runtime import Runtime, RuntimeDep

router = APIRouter(tags=["oauth"])
# Where the sign-in page sends the browser: the client's redirect URI, or the page showing the code.
REDIRECTS: dict[int | str, dict[str, Any]] = {
    302: {"description": "To the redirect URI, with `code` and `state` (or `error`)"},
    303: {"description": "To the page showing the code (`urn:ietf:wg:oauth:2.0:oob`)"},
}
M = TypeVar("M", bound=BaseModel)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


# -- apps ----------------------------------------------------------------------------------


@router.post("/api/v1/apps", response_model=CredentialApplicationEntity)
def create_app(session: SessionDep, form: Annotated[AppForm, body(AppForm)]) -> CredentialApplicationEntity:
    app, secret = service.create_application(session, form)
    return CredentialApplicationEntity(
        **ApplicationEntity.of(app).model_dump(), client_id=app.client_id, client_secret=secret
    )


@router.get("/api/v1/apps/verify_credentials", response_model=ApplicationEntity)
def verify_app_credentials(
    session: SessionDep, identity: Annotated[Identity, Depends(require_token())]
) -> ApplicationEntity:
    app = service.application_for_client_id(session, identity.app_id)
    if app is None:
        raise Unauthorized("The access token is invalid")
    return ApplicationEntity.of(app)


# -- the authorization endpoint (HTML) -----------------------------------------------------


def _redirect_with(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{query}", status_code=302, headers=NO_STORE)


def _authorize_error(runtime: Runtime, request: Request, exc: service.AuthorizeError) -> Response:
    if exc.redirect_uri:
        return _redirect_with(
            exc.redirect_uri, {"error": exc.error, "error_description": exc.description, "state": exc.state}
        )
    return pages.render(
        runtime, request, "error.html", {"error": exc.error, "description": exc.description}, 400
    )


def _submitted_language(request: Request) -> str | None:
    """The `lang` hidden field of a posted form (kept by `request_params` on the request)."""
    params = getattr(request.state, "params", None)
    return str(params.get("lang")) if isinstance(params, dict) and params.get("lang") else None


def _consent_page(
    runtime: Runtime,
    request: Request,
    auth: service.AuthorizationRequest,
    form: AuthorizeForm,
    *,
    error: str = "",
    username: str = "",
    status_code: int = 200,
) -> Response:
    hidden = [
        ("client_id", form.client_id),
        ("redirect_uri", auth.redirect_uri),
        ("response_type", "code"),
        ("scope", auth.scopes),
        ("state", form.state),
        ("code_challenge", form.code_challenge),
        ("code_challenge_method", form.code_challenge_method),
    ]
    language = pages.page_language(request, request.query_params.get("lang") or _submitted_language(request))
    hidden.append(("lang", language))
    context = {
        "app_name": auth.app.name,
        "app_website": auth.app.website,
        "scopes": pages.describe_scopes(auth.scopes, language),
        "hidden": [(k, v) for k, v in hidden if v],
        "error": pages.texts(language).get(error, error),
        "username": username,
        "lang": language,
    }
    return pages.render(runtime, request, "authorize.html", context, status_code)


@router.get("/oauth/authorize", response_class=HTMLResponse, responses=REDIRECTS)
def authorize_page(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    form = validated(AuthorizeForm, dict(request.query_params))
    try:
        auth = service.check_authorization_request(session, form)
    except service.AuthorizeError as exc:
        return _authorize_error(runtime, request, exc)
    return _consent_page(runtime, request, auth, form)


@router.post("/oauth/authorize", response_class=HTMLResponse, responses=REDIRECTS)
def authorize(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[dict[str, Any], Depends(request_params)],
) -> Response:
    form = validated(AuthorizeForm, params)
    request.state.params = params
    try:
        auth = service.check_authorization_request(session, form)
    except service.AuthorizeError as exc:
        return _authorize_error(runtime, request, exc)
    sign_in = validated(SignInForm, params)
    if not pages.csrf_valid(runtime, request, sign_in.csrf_token):
        return _consent_page(runtime, request, auth, form, error="expired", status_code=403)
    deny = {
        "error": "access_denied",
        "error_description": "The resource owner denied the request.",
        "state": auth.state,
    }
    if sign_in.decision == "deny":
        if auth.redirect_uri == OOB:
            return pages.render(runtime, request, "error.html", deny, 403)
        return _redirect_with(auth.redirect_uri, deny)
    username = sign_in.username
    account = accounts.authenticate(session, runtime, username, sign_in.password)
    if account is None:
        service.log.info("sign_in_failed", client_ip=client_ip(request), grant="authorization_code")
        return _consent_page(
            runtime, request, auth, form, error="invalid", username=username, status_code=401
        )
    code = service.create_authorization_code(session, runtime, auth, account)
    service.log.info(
        "authorization_granted",
        account_id=account.id,
        application_id=auth.app.id,
        client_ip=client_ip(request),
    )
    if auth.redirect_uri == OOB:
        return RedirectResponse(
            f"/oauth/authorize/native?{urlencode({'code': code})}", status_code=303, headers=NO_STORE
        )
    return _redirect_with(auth.redirect_uri, {"code": code, "state": auth.state})


@router.get("/oauth/authorize/native", response_class=HTMLResponse)
def show_code(request: Request, runtime: RuntimeDep, code: str = "") -> Response:
    """Where the out-of-band flow (`urn:ietf:wg:oauth:2.0:oob`) shows the code to copy."""
    return pages.render(runtime, request, "code.html", {"code": code})


# -- token, revoke, userinfo ---------------------------------------------------------------


def oauth_body(model: type[M]) -> Any:
    """`body(model)` for the OAuth endpoints: a malformed form is `invalid_request` (400, RFC 6749
    section 5.2, as Doorkeeper answers), not the API's 422."""

    async def dependency(request: Request) -> M:
        try:
            params = await request_params(request)
        except BadRequest as exc:  # a body that isn't what its content type says
            raise OAuthError("invalid_request", exc.message) from exc
        try:
            return model.model_validate(params)
        except ValidationError as exc:
            raise invalid_request(exc) from exc

    dependency.__name__ = f"oauth_body_{model.__name__}"
    dependency.__microblog_body__ = model  # type: ignore[attr-defined]
    return Depends(dependency)


OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": OAuthErrorResponse,
        "description": "invalid_request, invalid_grant, unsupported_grant_type",
    },
    401: {"model": OAuthErrorResponse, "description": "invalid_client"},
    403: {"model": OAuthErrorResponse, "description": "unauthorized_client"},
}


@router.post("/oauth/token", response_model=TokenEntity, responses=OAUTH_ERRORS)
def token(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    form: Annotated[TokenForm, oauth_body(TokenForm)],
) -> Response:
    try:
        issued = service.token(
            session, runtime, form, request.headers.get("authorization"), client_ip(request)
        )
    except OAuthError as exc:
        if exc.keep_changes:
            return exc.response()  # returning (not raising) lets the unit of work commit
        raise
    return JSONResponse(issued.response(), headers=NO_STORE)


@router.post("/oauth/revoke", response_model=EmptyObject, responses=OAUTH_ERRORS)
def revoke(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    form: Annotated[RevokeForm, oauth_body(RevokeForm)],
) -> Response:
    credentials = service.client_credentials(
        request.headers.get("authorization"), form.client_id, form.client_secret
    )
    app = service.authenticate_client(session, credentials)
    if not form.token:
        raise OAuthError("invalid_request", "The token parameter is missing.")
    service.revoke(session, runtime, app, form.token)
    return JSONResponse({}, headers=NO_STORE)


@router.get("/oauth/userinfo")
def userinfo(
    session: SessionDep, runtime: RuntimeDep, identity: Annotated[Identity, Depends(require_user("profile"))]
) -> dict[str, Any]:
    account = accounts.get_account(session, identity.user_id)
    urls = runtime.urls
    return {
        "iss": urls("/"),
        "sub": urls.actor(account.username),
        "name": account.display_name,
        "preferred_username": account.username,
        "profile": urls.profile(account.username),
        "picture": pictures(account, urls)["avatar"],
    }


@router.get("/oauth/authorized_applications")
def authorized_applications(
    session: SessionDep, identity: Annotated[Identity, Depends(require_user("read", "read:accounts"))]
) -> list[dict[str, Any]]:
    """The apps that may act for you (an extension, for the web UI's settings): each with the
    scopes its live tokens hold, when you first authorised it and when it last used them."""
    assert identity.user_id is not None
    return [
        {
            "id": str(item.application.id),
            "name": item.application.name,
            "website": item.application.website,
            "scopes": sorted(item.scopes),
            "created_at": _iso(item.authorized_at),
            "last_used_at": _iso(item.last_used_at),
        }
        for item in repository.authorized_applications(session, identity.user_id, datetime.now(UTC))
    ]


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@router.delete("/oauth/authorized_applications/{application_id}", response_model=EmptyObject)
def revoke_authorization(
    application_id: str,
    session: SessionDep,
    identity: Annotated[Identity, Depends(require_user("write", "write:accounts"))],
) -> dict[str, Any]:
    """Withdraw an app's access to your account: every token it holds for you stops working."""
    app_id = parse_id(application_id)
    if app_id is None or repository.get_application(session, app_id) is None:
        raise NotFound()
    assert identity.user_id is not None
    service.revoke_authorization(session, identity.user_id, app_id)
    return {}


@router.get("/.well-known/oauth-authorization-server")
def metadata(runtime: RuntimeDep) -> JSONResponse:
    urls = runtime.urls
    body_ = {
        "issuer": urls("/"),
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": urls("/oauth/authorize"),
        "token_endpoint": urls("/oauth/token"),
        "app_registration_endpoint": urls("/api/v1/apps"),
        "revocation_endpoint": urls("/oauth/revoke"),
        "userinfo_endpoint": urls("/oauth/userinfo"),
        "scopes_supported": list(scope_rules.SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": list(service.PKCE_METHODS),
        "grant_types_supported": ["authorization_code", "password", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    return JSONResponse(body_, headers={"Cache-Control": "public, max-age=300"})
