"""OAuth 2 as Mastodon (Doorkeeper) does it: app registration, client authentication, the
authorization-code (with PKCE), password, refresh-token and client-credentials grants, revocation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import structlog
from sqlalchemy.orm import Session

from microblog_common.errors import ERR_INVALID, ValidationErrors
from microblog_common.ids import new_id
from microblog_common.text import acceptable
from users import scopes as scope_rules
from users.accounts import service as accounts
from users.models import Account, Application, AuthorizationCode
from users.oauth import repository
from users.oauth.schemas import (
    OOB,
    AppForm,
    AuthorizeForm,
    OAuthError,
    TokenForm,
    invalid_client,
    invalid_grant,
)
from users.runtime import Runtime
from users.tokens import repository as tokens_repository
from users.tokens import service as tokens
from users.tokens.service import IssuedToken, digest

log = structlog.get_logger(__name__)

PKCE_METHODS = ("S256", "plain")
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


# -- applications --------------------------------------------------------------------------


def _valid_redirect_uri(uri: str) -> bool:
    if uri == OOB:
        return True
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment:
        return False
    return bool(parts.netloc) if parts.scheme in ("http", "https") else bool(parts.netloc or parts.path)


def create_application(session: Session, form: AppForm) -> tuple[Application, str]:
    """Returns the app and its client secret (stored hashed, shown only now)."""
    requested = scope_rules.parse(form.scopes) or [scope_rules.DEFAULT_SCOPE]
    problems = ValidationErrors()
    if bad := scope_rules.unknown(requested):
        problems.add("scopes", ERR_INVALID, f"contains unknown scopes: {' '.join(bad)}")
    if bad := [u for u in form.redirect_uris if not _valid_redirect_uri(u)]:
        problems.add("redirect_uris", ERR_INVALID, f"must be absolute URIs without fragment: {bad[0]}")
    problems.raise_if_any()
    secret = secrets.token_urlsafe(32)
    app = repository.add_application(
        session,
        Application(
            id=new_id(),
            name=form.client_name.strip(),
            website=form.website,
            redirect_uris="\n".join(form.redirect_uris),
            scopes=scope_rules.join(requested),
            client_id=secrets.token_urlsafe(32),
            client_secret_hash=digest(secret),
            created_at=datetime.now(UTC),
        ),
    )
    return app, secret


def application_for_client_id(session: Session, client_id: str | None) -> Application | None:
    return repository.application_by_client_id(session, client_id) if client_id else None


def delete_application(session: Session, app: Application) -> int:
    """Deleting an app ends every token it holds (through the revocation feed)."""
    revoked = tokens.revoke_application_tokens(session, app.id)
    repository.delete_application(session, app)
    return revoked


def revoke_authorization(session: Session, account_id: int, application_id: int) -> int:
    """A user withdraws an app's access: every token the app holds for them, and the codes it
    has not exchanged yet (each would become a token)."""
    repository.delete_pending_codes(session, account_id, application_id)
    return tokens.revoke_application_tokens(session, application_id, account_id=account_id)


def revoke_account_access(session: Session, account_id: int) -> int:
    """Everything that lets an app act for the account, whatever the app (password reset): its
    tokens and its not yet exchanged codes, as Mastodon revokes grants along with tokens."""
    repository.delete_pending_codes(session, account_id)
    return tokens.revoke_account_tokens(session, account_id)


# -- client authentication -----------------------------------------------------------------


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str | None
    client_secret: str | None
    basic: bool


def client_credentials(
    authorization: str | None, client_id: str | None, client_secret: str | None
) -> ClientCredentials:
    """From HTTP Basic (RFC 6749 §2.3.1, form-urlencoded id and secret) or from the body."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except ValueError as exc:
            raise invalid_client(basic=True) from exc
        basic_id, sep, basic_secret = decoded.partition(":")
        if not sep:
            raise invalid_client(basic=True)
        basic_id, basic_secret = unquote(basic_id), unquote(basic_secret)
        if not (acceptable(basic_id) and acceptable(basic_secret)):
            raise invalid_client(basic=True)  # no client has such an id; never a query for it
        if client_id and client_id != basic_id:
            raise OAuthError("invalid_request", "The client is identified twice, differently.")
        return ClientCredentials(basic_id, basic_secret, True)
    return ClientCredentials(client_id, client_secret, False)


def authenticate_client(session: Session, credentials: ClientCredentials) -> Application:
    app = application_for_client_id(session, credentials.client_id)
    # Compare even when the app is unknown, so timing says nothing about which ids exist.
    expected = app.client_secret_hash if app else digest("")
    given = digest(credentials.client_secret or "")
    if app is None or not credentials.client_secret or not hmac.compare_digest(expected, given):
        raise invalid_client(basic=credentials.basic)
    return app


# -- scopes and redirect URIs --------------------------------------------------------------


def granted_scopes(requested: str | None, app: Application) -> str:
    wanted = scope_rules.parse(requested) or [scope_rules.DEFAULT_SCOPE]
    if not scope_rules.allowed_for_app(wanted, app.scopes.split()):
        raise OAuthError("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
    return scope_rules.join(wanted)


def registered_redirect_uri(app: Application, redirect_uri: str | None) -> str | None:
    """The redirect URI to use, or None when it is not one the app registered."""
    registered = app.redirect_uris.split("\n")
    if not redirect_uri:
        return registered[0] if len(registered) == 1 else None
    return redirect_uri if redirect_uri in registered else None


# -- the authorization endpoint ------------------------------------------------------------


class AuthorizeError(Exception):
    """`redirect_uri` set: the error goes back to the client (RFC 6749 §4.1.2.1); otherwise the
    request can't be trusted to redirect and the user sees the error."""

    def __init__(
        self, error: str, description: str, redirect_uri: str | None = None, state: str | None = None
    ):
        super().__init__(description)
        self.error, self.description, self.redirect_uri, self.state = error, description, redirect_uri, state


@dataclass(frozen=True)
class AuthorizationRequest:
    app: Application
    redirect_uri: str
    scopes: str
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None


def check_authorization_request(session: Session, form: AuthorizeForm) -> AuthorizationRequest:
    app = application_for_client_id(session, form.client_id)
    if app is None:
        raise AuthorizeError("invalid_client", "This application is not known here.")
    redirect_uri = registered_redirect_uri(app, form.redirect_uri)
    if redirect_uri is None:
        raise AuthorizeError(
            "invalid_redirect_uri", "The redirect URI is not one this application registered."
        )

    def refuse(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, None if redirect_uri == OOB else redirect_uri, form.state)

    if form.response_type != "code":
        raise refuse("unsupported_response_type", "Only response_type=code is supported.")
    try:
        scopes = granted_scopes(form.scope, app)
    except OAuthError as exc:
        raise refuse(exc.error, exc.description) from exc
    method = form.code_challenge_method or ("plain" if form.code_challenge else None)
    if form.code_challenge:
        if method not in PKCE_METHODS:
            raise refuse("invalid_request", "code_challenge_method must be S256 or plain.")
        if not _VERIFIER.match(form.code_challenge):
            raise refuse("invalid_request", "code_challenge is malformed.")
    elif form.code_challenge_method:
        raise refuse("invalid_request", "code_challenge_method without code_challenge.")
    return AuthorizationRequest(app, redirect_uri, scopes, form.state, form.code_challenge or None, method)


def create_authorization_code(
    session: Session, runtime: Runtime, request: AuthorizationRequest, account: Account
) -> str:
    code = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    repository.add_code(
        session,
        AuthorizationCode(
            id=new_id(),
            code_hash=digest(code),
            application_id=request.app.id,
            account_id=account.id,
            redirect_uri=request.redirect_uri,
            scopes=request.scopes,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            expires_at=now + timedelta(seconds=runtime.settings.authorization_code_lifetime_seconds),
            created_at=now,
        ),
    )
    return code


# -- the token endpoint --------------------------------------------------------------------


def _pkce_matches(method: str | None, challenge: str, verifier: str | None) -> bool:
    if not verifier or not _VERIFIER.match(verifier):
        return False
    if method == "S256":
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return hmac.compare_digest(computed, challenge)
    return hmac.compare_digest(verifier, challenge)


def grant_authorization_code(
    session: Session, runtime: Runtime, app: Application, form: TokenForm
) -> IssuedToken:
    if not form.code:
        raise OAuthError("invalid_request", "The code parameter is missing.")
    code = repository.code_by_hash(session, digest(form.code))
    now = datetime.now(UTC)
    if code is None or code.application_id != app.id:
        raise invalid_grant()
    if code.used_at is not None:
        # A replayed code: what it was exchanged for is compromised too (RFC 6749 §4.1.2).
        if code.access_token_id is not None:
            tokens.revoke_token(session, code.access_token_id)
        raise OAuthError(invalid_grant().error, invalid_grant().description, keep_changes=True)
    if code.expires_at <= now or (form.redirect_uri or code.redirect_uri) != code.redirect_uri:
        raise invalid_grant()
    if code.code_challenge and not _pkce_matches(
        code.code_challenge_method, code.code_challenge, form.code_verifier
    ):
        raise invalid_grant()
    issued = tokens.issue(
        session, runtime, application_id=app.id, client_id=app.client_id, account_id=code.account_id,
        scopes=code.scopes, with_refresh=True,
    )  # fmt: skip
    code.used_at = now
    code.access_token_id = issued.row.id
    session.flush()
    return issued


def grant_password(
    session: Session, runtime: Runtime, app: Application, form: TokenForm, client_ip: str | None
) -> IssuedToken:
    if not form.username or form.password is None:
        raise OAuthError("invalid_request", "The username and password parameters are required.")
    scopes = granted_scopes(form.scope, app)
    account = accounts.authenticate(session, runtime, form.username, form.password)
    if account is None:
        log.info("sign_in_failed", client_ip=client_ip, grant="password")
        raise OAuthError("invalid_grant", "The email address (or username) or the password is not correct.")
    log.info("signed_in", account_id=account.id, client_ip=client_ip, grant="password")
    return tokens.issue(
        session, runtime, application_id=app.id, client_id=app.client_id, account_id=account.id,
        scopes=scopes, with_refresh=True,
    )  # fmt: skip


def grant_refresh_token(session: Session, runtime: Runtime, app: Application, form: TokenForm) -> IssuedToken:
    if not form.refresh_token:
        raise OAuthError("invalid_request", "The refresh_token parameter is missing.")
    row = tokens_repository.get_by_refresh_hash(session, digest(form.refresh_token))
    now = datetime.now(UTC)
    if row is None or row.application_id != app.id:
        raise invalid_grant()
    if row.refreshed_at is not None:
        # Reuse of a rotated refresh token: someone holds a copy. End the whole family.
        assert row.refresh_family_id is not None
        revoked = tokens.revoke_family(session, row.refresh_family_id)
        log.warning("refresh_token_reused", family_id=row.refresh_family_id, revoked=revoked)
        raise OAuthError(invalid_grant().error, invalid_grant().description, keep_changes=True)
    if row.revoked_at is not None or (row.refresh_expires_at is not None and row.refresh_expires_at <= now):
        raise invalid_grant()
    scopes = row.scopes
    if form.scope:
        wanted = scope_rules.parse(form.scope)
        if not scope_rules.allowed_for_app(wanted, row.scopes.split()):
            raise OAuthError("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
        scopes = scope_rules.join(wanted)
    row.refreshed_at = now
    session.flush()
    tokens.revoke_token(session, row.id)
    return tokens.issue(
        session, runtime, application_id=app.id, client_id=app.client_id, account_id=row.account_id,
        scopes=scopes, with_refresh=True, family_id=row.refresh_family_id,
    )  # fmt: skip


def grant_client_credentials(
    session: Session, runtime: Runtime, app: Application, form: TokenForm
) -> IssuedToken:
    scopes = granted_scopes(form.scope, app)
    return tokens.issue(
        session, runtime, application_id=app.id, client_id=app.client_id, account_id=None,
        scopes=scopes, with_refresh=False,
    )  # fmt: skip


def token(
    session: Session, runtime: Runtime, form: TokenForm, authorization: str | None, client_ip: str | None
) -> IssuedToken:
    app = authenticate_client(session, client_credentials(authorization, form.client_id, form.client_secret))
    match form.grant_type:
        case "authorization_code":
            return grant_authorization_code(session, runtime, app, form)
        case "password":
            return grant_password(session, runtime, app, form, client_ip)
        case "refresh_token":
            return grant_refresh_token(session, runtime, app, form)
        case "client_credentials":
            return grant_client_credentials(session, runtime, app, form)
        case "":
            raise OAuthError("invalid_request", "The grant_type parameter is missing.")
        case _:
            raise OAuthError("unsupported_grant_type", "The authorization grant type is not supported.")


# -- revocation ----------------------------------------------------------------------------


def revoke(session: Session, runtime: Runtime, app: Application, token_value: str) -> None:
    """RFC 7009: an unknown token is not an error; another client's token is."""
    row = None
    if token_value.count(".") == 2:
        claims = tokens.decode(session, runtime, token_value, verify_exp=False)
        if claims and str(claims.get("jti", "")).isdigit():
            row = tokens_repository.get_access_token(session, int(claims["jti"]))
    else:
        row = tokens_repository.get_by_refresh_hash(session, digest(token_value))
    if row is None:
        return
    if row.application_id != app.id:
        raise OAuthError("unauthorized_client", "You are not authorized to revoke this token", 403)
    tokens.revoke_token(session, row.id)
