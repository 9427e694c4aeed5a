"""Scope enforcement per endpoint, as Mastodon 4.3's controllers declare it (`doorkeeper_authorize!`
for required tokens, `authorize_if_got_token!` for optional ones). The identity is sent the way the
gateway sends a verified token's, with exactly the scopes under test."""

from __future__ import annotations

import pytest

# (method, path, scopes that are enough, scopes that are not, whether anonymous callers may come)
ENDPOINTS = [
    ("GET", "/api/v1/accounts/verify_credentials",
        ["profile", "read", "read:accounts"], ["write", "read:statuses", "follow"], False),
    ("PATCH", "/api/v1/accounts/update_credentials",
        ["write", "write:accounts"], ["read", "write:statuses", "follow", "profile"], False),
    ("GET", "/api/v1/accounts/{bob}", ["read", "read:accounts"], ["write", "read:statuses"], True),
    ("GET", "/api/v1/accounts/lookup?acct=bob", ["read", "read:accounts"], ["write", "profile"], True),
    ("GET", "/api/v1/accounts/relationships?id[]={bob}",
        ["read", "read:follows"], ["read:accounts", "write", "follow"], False),
    ("POST", "/api/v1/accounts/{bob}/follow",
        ["follow", "write", "write:follows"], ["read", "write:accounts"], False),
    ("POST", "/api/v1/accounts/{bob}/unfollow",
        ["follow", "write", "write:follows"], ["read", "write:accounts"], False),
    ("GET", "/api/v1/accounts/{bob}/followers", ["read", "read:accounts"], ["write", "read:follows"], True),
    ("GET", "/api/v1/accounts/{bob}/following", ["read", "read:accounts"], ["write", "read:follows"], True),
    ("GET", "/oauth/userinfo", ["profile"], ["read", "read:accounts"], False),
]  # fmt: skip


@pytest.fixture
def accounts(users):
    return users.register("alice"), users.register("bob")


@pytest.mark.parametrize(("method", "path", "enough", "not_enough", "anonymous"), ENDPOINTS)
def test_each_endpoint_wants_mastodons_scopes(users, accounts, method, path, enough, not_enough, anonymous):
    alice, bob = accounts
    target = path.format(bob=bob.id)

    def call(scopes: str | None):
        identity = {} if scopes is None else {"user_id": alice.id, "scopes": scopes, "token_id": "t-1"}
        return users.client.request(method, target, **identity)

    for scope in enough:
        r = call(scope)
        assert r.status_code == 200, (scope, r.text)
    for scope in not_enough:
        r = call(scope)
        assert r.status_code == 403, (scope, r.text)
        assert r.json() == {"error": "This action is outside the authorized scopes"}
    r = call(None)
    assert r.status_code == (200 if anonymous else 401), r.text
    if not anonymous:
        assert r.json() == {"error": "The access token is invalid"}


def test_registration_wants_an_app_token_with_write_accounts(users):
    app = users.create_app()
    form = {"username": "carol", "email": "carol@example.com", "password": users.PASSWORD, "agreement": "1"}
    for scope in ("read", "write:statuses", "follow"):
        r = users.as_(users.app_token(app, scope=scope)).post("/api/v1/accounts", data=form)
        assert r.status_code == 403, (scope, r.text)
    r = users.as_(users.app_token(app, scope="write:accounts")).post("/api/v1/accounts", data=form)
    assert r.status_code == 200, r.text


def test_app_verify_credentials_takes_any_token_of_the_app(users):
    app = users.create_app()
    for scope in ("read", "write:statuses", "push"):
        r = users.as_(users.app_token(app, scope=scope)).get("/api/v1/apps/verify_credentials")
        assert r.status_code == 200 and r.json()["name"] == "Test app", scope
