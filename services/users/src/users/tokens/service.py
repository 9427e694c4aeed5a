"""Issuing access tokens (EdDSA-signed JWTs) with their refresh tokens, and revoking them.

Every revocation appends to the feed the gateway polls, in the same transaction as the change."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from microblog_common.ids import new_id
from users.models import AccessToken
from users.runtime import Runtime
from users.tokens import repository
from users.tokens.keys import ALGORITHM

# RFC 9068's media type for JWT access tokens.
TOKEN_TYPE = "at+jwt"  # noqa: S105


def digest(secret: str) -> str:
    """sha256 of a high-entropy secret (refresh tokens, codes, reset tokens, client secrets)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def random_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedToken:
    row: AccessToken
    access_token: str
    refresh_token: str | None

    def response(self) -> dict[str, Any]:
        """Doorkeeper's token response (what Mastodon returns, and the Token entity)."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "scope": self.row.scopes,
            "created_at": int(self.row.created_at.timestamp()),
            "expires_in": max(0, int((self.row.expires_at - self.row.created_at).total_seconds())),
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


def issue(
    session: Session,
    runtime: Runtime,
    *,
    application_id: int,
    client_id: str,
    account_id: int | None,
    scopes: str,
    with_refresh: bool,
    family_id: int | None = None,
) -> IssuedToken:
    settings = runtime.settings
    now = datetime.now(UTC).replace(microsecond=0)
    token_id = new_id()
    refresh = random_secret() if with_refresh else None
    row = repository.add_access_token(
        session,
        AccessToken(
            id=token_id,
            application_id=application_id,
            account_id=account_id,
            scopes=scopes,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.access_token_lifetime_seconds),
            refresh_token_hash=digest(refresh) if refresh else None,
            refresh_expires_at=now + timedelta(seconds=settings.refresh_token_lifetime_seconds)
            if refresh
            else None,
            refresh_family_id=(family_id or token_id) if refresh else None,
        ),
    )
    key = runtime.keys.active(session)
    claims = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "sub": str(account_id) if account_id is not None else "",
        "jti": str(token_id),
        "scope": scopes,
        "client_id": client_id,
        # The application's numeric id, which the gateway passes on (Mastodon's `application_id`).
        "app": str(application_id),
        "iat": int(now.timestamp()),
        "exp": int(row.expires_at.timestamp()),
    }
    encoded = jwt.encode(
        claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": TOKEN_TYPE}
    )
    return IssuedToken(row, encoded, refresh)


def decode(
    session: Session, runtime: Runtime, token: str, *, verify_exp: bool = True
) -> dict[str, Any] | None:
    """The claims of a token this service signed, or None (bad signature, unknown key, wrong
    issuer or audience, and, with `verify_exp`, expired)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM or not isinstance(kid, str):
        return None
    public_key = runtime.keys.verification_key(session, kid)
    if public_key is None:
        return None
    try:
        return jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=runtime.settings.token_audience,
            issuer=runtime.settings.token_issuer,
            options={"verify_exp": verify_exp, "require": ["exp", "iat", "jti", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return None


def _revoke(session: Session, condition: ColumnElement[bool]) -> int:
    now = datetime.now(UTC)
    revoked = repository.revoke_where(session, condition, now)
    repository.append_revocations(session, revoked, now)
    return len(revoked)


def revoke_token(session: Session, token_id: int) -> int:
    return _revoke(session, AccessToken.id == token_id)


def revoke_family(session: Session, family_id: int) -> int:
    return _revoke(session, AccessToken.refresh_family_id == family_id)


def revoke_account_tokens(session: Session, account_id: int) -> int:
    """Every token of the account, whatever the app (password reset)."""
    return _revoke(session, AccessToken.account_id == account_id)


def revoke_application_tokens(session: Session, application_id: int, account_id: int | None = None) -> int:
    """An app's tokens: all of them (the app is deleted) or one account's (its authorization is
    withdrawn)."""
    condition = AccessToken.application_id == application_id
    if account_id is not None:
        condition = condition & (AccessToken.account_id == account_id)
    return _revoke(session, condition)
