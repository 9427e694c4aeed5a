"""Accounts for the benchmarks, made through the public API as a client would: an app
(`POST /api/v1/apps`), its app token (client credentials), a registration (`POST /api/v1/accounts`,
which answers with the new account's access token), and signing in with the password grant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

PASSWORD = "benchmark passphrase"  # throwaway accounts
SCOPES = "read write"
OOB = "urn:ietf:wg:oauth:2.0:oob"


@dataclass
class BenchAccount:
    id: int
    username: str
    email: str
    password: str
    token: str  # the access token registration answered with
    client_id: str
    client_secret: str

    def password_grant(self) -> dict[str, str]:
        """The form of `POST /oauth/token` signing this account in with its password."""
        return {
            "grant_type": "password",
            "username": self.email,
            "password": self.password,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": SCOPES,
        }


def _ok(response: httpx.Response) -> dict:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json()


def register(gateway_url: str, prefix: str = "bench") -> BenchAccount:
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        app = _ok(client.post(
            "/api/v1/apps", data={"client_name": prefix, "redirect_uris": OOB, "scopes": SCOPES}
        ))  # fmt: skip
        app_token = _ok(client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": SCOPES,
                  "client_id": app["client_id"], "client_secret": app["client_secret"]},
        ))  # fmt: skip
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        email = f"{name}@example.com"
        token = _ok(client.post(
            "/api/v1/accounts",
            headers={"Authorization": f"Bearer {app_token['access_token']}"},
            data={"username": name, "email": email, "password": PASSWORD, "agreement": "1"},
        ))["access_token"]  # fmt: skip
        me = _ok(
            client.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"})
        )
    return BenchAccount(
        id=int(me["id"]), username=name, email=email, password=PASSWORD, token=token,
        client_id=app["client_id"], client_secret=app["client_secret"],
    )  # fmt: skip


def sign_in(gateway_url: str, account: BenchAccount) -> dict:
    """A password grant: the token response (`access_token`, `refresh_token`, `scope`, ...)."""
    return _ok(httpx.post(gateway_url + "/oauth/token", data=account.password_grant(), timeout=30))
