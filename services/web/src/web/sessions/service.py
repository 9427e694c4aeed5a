"""Sign-in sessions: made when someone signs in or up, found from the cookie on every request,
ended at sign-out (the token revoked) or when the API refuses their token.

The pages are async (they wait on the API); the database work here runs on worker threads, each
call in its own unit of work."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from anyio import to_thread

from microblog_common.db import Database
from web.keys import Keys, digest, new_key
from web.models import WebSession
from web.sessions import repository

# A session's expiry moves on when it is used, at most this often (not a write per page).
TOUCH_EVERY = timedelta(hours=1)
PROFILE_FIELDS = ("id", "username", "acct", "display_name", "avatar", "avatar_static", "url")


def profile_of(account: dict[str, Any]) -> dict[str, Any]:
    """What the page header needs of a CredentialAccount, and the posting defaults of its
    `source` (what a new post starts with)."""
    source = account.get("source") or {}
    return {
        **{name: account.get(name) for name in PROFILE_FIELDS},
        "default_privacy": source.get("privacy") or "public",
        "default_sensitive": bool(source.get("sensitive")),
        "default_language": source.get("language") or "",
    }


@dataclass(frozen=True)
class Viewer:
    """The signed-in person a request comes from."""

    session_id: str
    account_id: int
    token: str
    scopes: frozenset[str]
    csrf_secret: str
    profile: dict[str, Any] = field(hash=False)
    locale: str | None = None

    @property
    def username(self) -> str:
        return str(self.profile.get("username") or "")


class SessionStore:
    def __init__(self, keys: Keys, lifetime: timedelta):
        self.keys = keys
        self.lifetime = lifetime

    async def load(self, db: Database, cookie: str | None) -> Viewer | None:
        key = self.keys.cookie_key(cookie)
        if key is None:
            return None
        return await to_thread.run_sync(self._load, db, digest(key))

    def _load(self, db: Database, session_id: str) -> Viewer | None:
        now = datetime.now(UTC)
        with db.unit_of_work() as session:
            found = repository.get_session(session, session_id, now)
            if found is None:
                return None
            row, locale = found
            token = self.keys.decrypt(row.access_token)
            if token is None:  # the key changed: the session can't be used any more
                repository.delete_session(session, session_id)
                return None
            if now - row.last_seen_at > TOUCH_EVERY:
                repository.touch_session(session, session_id, now, now + self.lifetime)
            return Viewer(
                session_id=session_id,
                account_id=row.account_id,
                token=token,
                scopes=frozenset(row.scopes.split()),
                csrf_secret=row.csrf_secret,
                profile=dict(row.profile),
                locale=locale,
            )

    async def create(
        self, db: Database, account: dict[str, Any], token: str, scopes: str, locale: str | None = None
    ) -> str:
        """A new session for `account` holding `token`; returns the cookie value. `locale`, when
        given, becomes the account's interface language if it has none yet."""
        key = new_key()
        now = datetime.now(UTC)
        row = WebSession(
            id=digest(key),
            account_id=int(account["id"]),
            access_token=self.keys.encrypt(token),
            scopes=scopes,
            csrf_secret=secrets.token_hex(32),
            profile=profile_of(account),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.lifetime,
        )

        def write() -> None:
            with db.unit_of_work() as session:
                repository.add_session(session, row)
                if locale and repository.get_locale(session, row.account_id) is None:
                    repository.set_locale(session, row.account_id, locale, now)

        await to_thread.run_sync(write)
        return self.keys.sign_cookie(key)

    async def end(self, db: Database, session_id: str) -> None:
        def write() -> None:
            with db.unit_of_work() as session:
                repository.delete_session(session, session_id)

        await to_thread.run_sync(write)

    async def update_profile(self, db: Database, account: dict[str, Any]) -> None:
        def write() -> None:
            with db.unit_of_work() as session:
                repository.update_profile(session, int(account["id"]), profile_of(account))

        await to_thread.run_sync(write)

    async def set_locale(self, db: Database, account_id: int, locale: str) -> None:
        def write() -> None:
            with db.unit_of_work() as session:
                repository.set_locale(session, account_id, locale, datetime.now(UTC))

        await to_thread.run_sync(write)


def delete_expired(session: Any, now: datetime) -> int:
    return repository.delete_expired_sessions(session, now)
