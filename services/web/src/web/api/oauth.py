"""The web UI as an OAuth application of the API (Mastodon's flows, nothing of its own):

- it registers itself once (`POST /api/v1/apps`, its redirect URI `PUBLIC_URL/auth/callback`) and
  keeps the client id and (encrypted) secret in its database, shared by its replicas;
- signing in is the authorization-code flow with PKCE (S256) through the API's own sign-in and
  consent page (`/oauth/authorize`), the code exchanged here, server-side;
- signing up is `POST /api/v1/accounts` with the app's client-credentials token, which answers
  with the new account's token;
- signing out revokes the token (`POST /oauth/revoke`)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import structlog
from anyio import to_thread
from sqlalchemy.exc import IntegrityError

from microblog_common.db import Database
from web.api.client import Api, ApiError
from web.keys import Keys
from web.models import OAuthClient
from web.sessions import repository

log = structlog.get_logger(__name__)

SCOPES = "read write follow push"
CALLBACK_PATH = "/auth/callback"


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class PendingSignIn:
    """What the browser keeps (signed, in a cookie) between leaving for the consent page and
    coming back with a code."""

    state: str
    verifier: str
    next: str

    @classmethod
    def new(cls, next_path: str) -> PendingSignIn:
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_path)

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "verifier": self.verifier, "next": self.next}


class OAuthApp:
    def __init__(self, api: Api, keys: Keys, public_url: str, app_name: str):
        self.api = api
        self.keys = keys
        self.redirect_uri = public_url + CALLBACK_PATH
        self.website = public_url
        self.app_name = app_name
        self._client: Client | None = None
        self._app_token: str | None = None
        self._lock = asyncio.Lock()

    async def client(self, db: Database) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await to_thread.run_sync(self._stored, db) or await self._register(db)
            return self._client

    def _stored(self, db: Database) -> Client | None:
        with db.unit_of_work() as session:
            row = repository.get_client(session, self.redirect_uri)
            if row is None or row.scopes != SCOPES:
                return None
            secret = self.keys.decrypt(row.client_secret)
            return Client(row.client_id, secret) if secret is not None else None

    async def _register(self, db: Database) -> Client:
        answer = await self.api.post(
            "/api/v1/apps",
            data={
                "client_name": self.app_name,
                "redirect_uris": self.redirect_uri,
                "scopes": SCOPES,
                "website": self.website,
            },
        )
        client = Client(answer.data["client_id"], answer.data["client_secret"])

        def store() -> Client:
            try:
                with db.unit_of_work() as session:
                    repository.delete_client(session, self.redirect_uri)
                    repository.add_client(
                        session,
                        OAuthClient(
                            redirect_uri=self.redirect_uri,
                            client_id=client.client_id,
                            client_secret=self.keys.encrypt(client.client_secret),
                            scopes=SCOPES,
                            created_at=datetime.now(UTC),
                        ),
                    )
                return client
            except IntegrityError:
                # Another replica registered at the same moment: everyone uses its registration.
                return self._stored(db) or client

        stored = await to_thread.run_sync(store)
        log.info("oauth_app_registered", client_id=stored.client_id, redirect_uri=self.redirect_uri)
        return stored

    async def forget(self, db: Database) -> None:
        """The API no longer knows the registration (its database was reset): register anew."""

        def drop() -> None:
            with db.unit_of_work() as session:
                repository.delete_client(session, self.redirect_uri)

        self._client = None
        self._app_token = None
        await to_thread.run_sync(drop)

    async def _with_client(self, db: Database, call: Any) -> Any:
        """Runs `call(client)`; once more with a new registration if the API says the client is
        unknown."""
        client = await self.client(db)
        try:
            return await call(client)
        except ApiError as exc:
            if exc.status != 401 or "client" not in exc.message.lower():
                raise
            await self.forget(db)
            return await call(await self.client(db))

    def authorize_url(self, client: Client, pending: PendingSignIn, locale: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": SCOPES,
                "state": pending.state,
                "code_challenge": pending.challenge,
                "code_challenge_method": "S256",
                "lang": locale,
            }
        )
        return f"/oauth/authorize?{query}"

    async def exchange(self, db: Database, code: str, verifier: str, client_ip: str | None) -> dict[str, Any]:
        async def call(client: Client) -> dict[str, Any]:
            answer = await self.api.post(
                "/oauth/token",
                client_ip=client_ip,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "code_verifier": verifier,
                    "redirect_uri": self.redirect_uri,
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                },
            )
            result: dict[str, Any] = answer.data
            return result

        result: dict[str, Any] = await self._with_client(db, call)
        return result

    async def app_token(self, db: Database, *, fresh: bool = False) -> str:
        if self._app_token is not None and not fresh:
            return self._app_token

        async def call(client: Client) -> str:
            answer = await self.api.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "scope": SCOPES,
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                },
            )
            return str(answer.data["access_token"])

        self._app_token = await self._with_client(db, call)
        return self._app_token

    async def revoke(self, db: Database, token: str) -> None:
        client = await self.client(db)
        await self.api.post(
            "/oauth/revoke",
            data={"token": token, "client_id": client.client_id, "client_secret": client.client_secret},
        )
