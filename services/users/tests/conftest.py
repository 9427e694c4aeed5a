"""The users service on SQLite and on the test session's PostgreSQL, called as the gateway would:
a test holding an access token verifies it against the service's JWKS (as the gateway does) and
sends the identity it carries in the signed headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from microblog_common.events import Event
from microblog_common.testing import CapturedEvents, ServiceClient, database_url, run_service
from users.app import create_app
from users.settings import Settings

OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "correct horse battery staple"
ALL_SCOPES = "read write follow push"
# Argon2id at its cheapest: these tests are about behaviour, not hashing cost.
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 1024, "argon2_parallelism": 1}


@dataclass
class App:
    client_id: str
    client_secret: str
    body: dict[str, Any]


@dataclass
class Account:
    id: int
    username: str
    email: str
    password: str
    token: str
    refresh_token: str | None
    app: App


class Caller:
    """Requests as the holder of `token`, through an emulated gateway."""

    def __init__(self, users: Users, token: str):
        self.users = users
        self.token = token

    def request(self, method: str, path: str, **kwargs: Any):
        return self.users.client.request(method, path, **self.users.identity(self.token), **kwargs)

    def get(self, path: str, **kw: Any):
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any):
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any):
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.request("DELETE", path, **kw)


class Users:
    OOB = OOB
    PASSWORD = PASSWORD
    ALL_SCOPES = ALL_SCOPES

    def __init__(self, client: ServiceClient, raw, captured: CapturedEvents, settings: Settings):
        self.client = client
        self.raw = raw
        self.captured = captured
        self.settings = settings
        self._counter = 0

    @property
    def app(self):
        return self.raw.app

    # -- apps and tokens -----------------------------------------------------------------
    def create_app(self, scopes: str = ALL_SCOPES, redirect_uris: str = OOB, **extra: Any) -> App:
        r = self.client.post(
            "/api/v1/apps",
            data={"client_name": "Test app", "scopes": scopes, "redirect_uris": redirect_uris, **extra},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        return App(body["client_id"], body["client_secret"], body)

    def token(self, app: App, **form: str):
        return self.client.post(
            "/oauth/token", data={"client_id": app.client_id, "client_secret": app.client_secret, **form}
        )

    def app_token(self, app: App, scope: str = ALL_SCOPES) -> str:
        r = self.token(app, grant_type="client_credentials", scope=scope)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def register(
        self, username: str | None = None, *, email: str | None = None, app: App | None = None
    ) -> Account:
        self._counter += 1
        username = username or f"user{self._counter}"
        email = email or f"{username.lower()}@example.com"
        app = app or self.create_app()
        r = self.as_(self.app_token(app)).post(
            "/api/v1/accounts",
            data={
                "username": username,
                "email": email,
                "password": PASSWORD,
                "agreement": "1",
                "locale": "en",
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        account_id = int(self.claims(body["access_token"])["sub"])
        return Account(
            account_id, username, email, PASSWORD, body["access_token"], body.get("refresh_token"), app
        )

    def login(self, app: App, username: str, password: str = PASSWORD, scope: str = ALL_SCOPES):
        return self.token(app, grant_type="password", username=username, password=password, scope=scope)

    # -- the gateway's part ----------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        r = self.client.get("/.well-known/jwks.json")
        assert r.status_code == 200, r.text
        return r.json()

    def claims(
        self, token: str, *, audience: str = "microblog", issuer: str = "microblog-users"
    ) -> dict[str, Any]:
        """Verified as the gateway does: pinned algorithm, key by kid from the JWKS, iss, aud, exp."""
        kid = jwt.get_unverified_header(token)["kid"]
        keys = {k["kid"]: k for k in self.jwks()["keys"]}
        public_key = jwt.PyJWK(keys[kid]).key
        return jwt.decode(token, public_key, algorithms=["EdDSA"], audience=audience, issuer=issuer)

    def revoked_jtis(self) -> set[str]:
        r = self.client.get("/internal/token-revocations?after=0&limit=1000")
        assert r.status_code == 200, r.text
        return {row["jti"] for row in r.json()["revocations"]}

    def identity(self, token: str) -> dict[str, Any]:
        claims = self.claims(token)
        return {
            "user_id": int(claims["sub"]) if claims["sub"] else None,
            "scopes": claims["scope"],
            "token_id": claims["jti"],
            "app_id": claims["client_id"],
            "application_id": int(claims["app"]),
        }

    def as_(self, token: str) -> Caller:
        return Caller(self, token)

    @staticmethod
    def hidden_fields(html: str) -> dict[str, str]:
        """The hidden inputs of a server-rendered form (what a browser would post back)."""
        return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))

    # -- events ----------------------------------------------------------------------------
    def events(self, event_type: str, count: int = 1, timeout: float = 5.0) -> list[Event]:
        return self.captured.wait(event_type, count, timeout)


def start_users(request: pytest.FixtureRequest, tmp_path, backend: str, **overrides: Any):
    url = database_url(request, tmp_path, backend, "users")
    return run_service(
        create_app, Settings, url, **{**FAST_HASHING, "media_root": tmp_path / "media", **overrides}
    )


@pytest.fixture
def start_service(request: pytest.FixtureRequest, tmp_path, backend: str):
    """`with start_service(**settings) as users:` the service with settings of the test's own."""

    @contextmanager
    def start(**overrides: Any) -> Iterator[Users]:
        with start_users(request, tmp_path, backend, **overrides) as (client, raw, captured):
            raw.follow_redirects = False
            yield Users(client, raw, captured, raw.app.state.settings)

    return start


@pytest.fixture
def users(start_service):
    with start_service() as service:
        yield service
