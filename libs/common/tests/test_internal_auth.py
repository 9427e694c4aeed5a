import time

import httpx
import pytest
from fastapi import Depends, FastAPI

from microblog_common.errors import install_error_handlers
from microblog_common.internal_auth import (
    HEADER_SIGNATURE,
    HEADER_TOKEN_ID,
    HEADER_USER_ID,
    Identity,
    InternalAuthMiddleware,
    is_forbidden_client_header,
    require_user,
    sign_request,
    signing_target,
    verify_request,
)

SECRET = "s" * 40


def test_signature_roundtrip_and_tampering():
    identity = {HEADER_USER_ID: "42", HEADER_TOKEN_ID: "t1"}
    headers = sign_request(SECRET, "POST", "/api/v1/statuses?x=1", identity)
    assert verify_request(SECRET, "POST", "/api/v1/statuses?x=1", headers, max_age=60)
    assert not verify_request(SECRET, "POST", "/api/v1/statuses?x=2", headers, max_age=60)
    assert not verify_request(SECRET, "DELETE", "/api/v1/statuses?x=1", headers, max_age=60)
    assert not verify_request(
        SECRET, "POST", "/api/v1/statuses?x=1", {**headers, HEADER_USER_ID: "43"}, max_age=60
    )
    assert not verify_request("t" * 40, "POST", "/api/v1/statuses?x=1", headers, max_age=60)


def test_stale_signatures_are_refused():
    headers = sign_request(SECRET, "GET", "/x", {}, now=time.time() - 120)
    assert not verify_request(SECRET, "GET", "/x", headers, max_age=60)


def test_client_identity_headers_are_recognised_for_stripping():
    for name in (
        "X-User-Id",
        "x-user-scopes",
        "X-Internal-Signature",
        "X-App-Id",
        "X-Token-Id",
        "X-Client-Ip",
    ):
        assert is_forbidden_client_header(name)
    assert not is_forbidden_client_header("Authorization")
    assert not is_forbidden_client_header("X-Request-Id")


def test_scope_rules_follow_mastodon():
    ident = Identity(user_id=1, scopes=frozenset({"read", "write:statuses"}), app_id=None, token_id="t")
    assert ident.has_scope("read:accounts")
    assert ident.has_scope("write:statuses")
    assert not ident.has_scope("write:follows")
    assert not ident.has_scope("write")
    assert not ident.has_scope("follow")


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/health/live")
    def live():
        return {"status": "ok"}

    @app.get("/me")
    def me(identity: Identity = Depends(require_user("read:accounts"))):
        return {"id": identity.user_id}

    app.add_middleware(InternalAuthMiddleware, secret=SECRET)
    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://svc") as c:
        yield c


async def test_service_refuses_forged_identity_sent_directly(client):
    r = await client.get("/me", headers={"X-User-Id": "1", "X-Token-Id": "t", "X-User-Scopes": "read"})
    assert r.status_code == 403
    assert r.json() == {"error": "This service only accepts requests through the gateway"}
    forged = {
        "X-User-Id": "1",
        "X-Token-Id": "t",
        "X-Internal-Timestamp": str(int(time.time())),
        HEADER_SIGNATURE: "0" * 64,
    }
    assert (await client.get("/me", headers=forged)).status_code == 403


async def test_service_accepts_signed_identity_and_enforces_scopes(client):
    ok = sign_request(SECRET, "GET", "/me", {"x-user-id": "7", "x-token-id": "t", "x-user-scopes": "read"})
    r = await client.get("/me", headers=ok)
    assert r.status_code == 200 and r.json() == {"id": 7}
    wrong_scope = sign_request(
        SECRET, "GET", "/me", {"x-user-id": "7", "x-token-id": "t", "x-user-scopes": "write"}
    )
    r = await client.get("/me", headers=wrong_scope)
    assert r.status_code == 403 and "scopes" in r.json()["error"]
    anonymous = sign_request(SECRET, "GET", "/me", {})
    assert (await client.get("/me", headers=anonymous)).status_code == 401


async def test_health_stays_open_for_probes(client):
    assert (await client.get("/health/live")).status_code == 200


def test_the_signed_target_is_the_path_the_service_sees():
    """ASGI servers decode the path and keep the query as sent: the signature covers exactly that."""
    assert signing_target(b"/api/v1/timelines/tag/caf%C3%A9?max_id=1&q=a%20b") == (
        "/api/v1/timelines/tag/café?max_id=1&q=a%20b"
    )
    assert signing_target(b"/health/live") == "/health/live"


def test_a_client_address_is_believed_only_as_signed():
    from microblog_common.internal_auth import sign_client_address, verified_client_address

    secret = "s" * 40
    headers = sign_client_address(secret, "POST", "/oauth/token?x=1", "203.0.113.7", now=1000)
    assert verified_client_address(secret, "post", "/oauth/token?x=1", headers, 60, now=1030) == "203.0.113.7"
    assert verified_client_address(secret, "POST", "/oauth/token?x=2", headers, 60, now=1030) is None
    assert verified_client_address(secret, "GET", "/oauth/token?x=1", headers, 60, now=1030) is None
    assert verified_client_address("t" * 40, "POST", "/oauth/token?x=1", headers, 60, now=1030) is None
    assert verified_client_address(secret, "POST", "/oauth/token?x=1", headers, 60, now=1100) is None
    changed = {**headers, "x-internal-client-ip": "203.0.113.8"}
    assert verified_client_address(secret, "POST", "/oauth/token?x=1", changed, 60, now=1030) is None
    assert verified_client_address(secret, "POST", "/oauth/token?x=1", {}, 60, now=1030) is None
    # A forwarded request's signature (another message) is no client-address signature.
    forwarded = sign_request(secret, "POST", "/oauth/token?x=1", {"x-client-ip": "203.0.113.7"}, now=1000)
    as_address = {
        "x-internal-client-ip": "203.0.113.7",
        "x-internal-client-signature": f"1000.{forwarded['x-internal-signature']}",
    }
    assert verified_client_address(secret, "POST", "/oauth/token?x=1", as_address, 60, now=1030) is None
