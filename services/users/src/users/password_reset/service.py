"""Password reset by email (an extension of the Mastodon API): a request publishes
`user.password_reset_requested` with a single-use token (only its hash is stored) that expires;
confirming sets the password and revokes every token of the account (and every authorization code
not exchanged yet, which would otherwise become a token after the reset)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import structlog
from sqlalchemy.orm import Session

from microblog_common.errors import ERR_INVALID, TooManyRequests, invalid
from microblog_common.ids import new_id
from microblog_common.text import acceptable
from users import events
from users.accounts import repository as accounts_repository
from users.accounts import service as accounts
from users.models import PasswordResetRequest, PasswordResetToken
from users.oauth import service as oauth
from users.password_reset import repository
from users.runtime import Runtime
from users.tokens.service import digest

log = structlog.get_logger(__name__)


def request_reset(session: Session, runtime: Runtime, email: str, client_ip: str | None) -> None:
    """Does nothing visible for unknown addresses: the caller answers 202 either way."""
    if not acceptable(email):  # no account has such an address: nothing to look up or count
        log.info("password_reset_unknown_address", client_ip=client_ip)
        return
    _limit_requests_per_address(session, runtime, email)
    user = accounts_repository.user_by_email(session, email.strip())
    if user is None:
        log.info("password_reset_unknown_address", client_ip=client_ip)
        return
    account = accounts_repository.get(session, user.account_id)
    assert account is not None
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=runtime.settings.password_reset_lifetime_seconds)
    repository.use_all(session, account.id, now)  # only the newest link works
    repository.add(
        session,
        PasswordResetToken(
            id=new_id(),
            account_id=account.id,
            token_hash=digest(token),
            expires_at=expires_at,
            created_at=now,
        ),
    )
    urls = runtime.urls
    events.publish(
        session,
        events.PASSWORD_RESET_REQUESTED,
        events.PasswordResetRequested(
            user_id=str(account.id),
            username=account.username,
            email=user.email,
            locale=user.locale,
            token=token,
            expires_at=expires_at,
            reset_url=urls(runtime.settings.password_reset_path) + "?" + urlencode({"token": token}),
        ),
        subject=account.id,
    )
    log.info("password_reset_requested", account_id=account.id, client_ip=client_ip)


def _limit_requests_per_address(session: Session, runtime: Runtime, email: str) -> None:
    """Counted for every address alike, so a 429 says nothing about whether an account exists."""
    settings = runtime.settings
    now = datetime.now(UTC)
    window_start = now - timedelta(seconds=settings.password_reset_window_seconds)
    address_hash = digest(email.strip().lower())
    if repository.requests_since(session, address_hash, window_start) >= settings.password_reset_limit:
        raise TooManyRequests("Too many password reset requests for this address; try again later")
    repository.record_request(
        session, PasswordResetRequest(id=new_id(), address_hash=address_hash, created_at=now), window_start
    )


def confirm_reset(
    session: Session, runtime: Runtime, token: str, password: str, client_ip: str | None
) -> None:
    row = repository.by_hash(session, digest(token))
    now = datetime.now(UTC)
    if row is None or row.used_at is not None or row.expires_at <= now:
        log.info("password_reset_refused", client_ip=client_ip)
        raise invalid(
            "token",
            ERR_INVALID,
            "is invalid or has expired",
            message="This password reset link is invalid or has expired",
        )
    accounts.set_password(session, runtime, row.account_id, password)
    repository.use_all(session, row.account_id, now)
    revoked = oauth.revoke_account_access(session, row.account_id)
    log.info("password_reset_done", account_id=row.account_id, revoked_tokens=revoked, client_ip=client_ip)
