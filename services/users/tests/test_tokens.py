"""Access tokens as JWTs, the JWKS, key rotation, the revocation feed (users.tokens)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update

from microblog_common.testing import wait_until
from users.models import PasswordResetToken, SigningKey
from users.tokens import service as tokens
from users.tokens.keys import private_pem, rotate_signing_key


def test_claims_and_key_id_verify_with_the_jwks(users):
    alice = users.register("alice")
    header = jwt.get_unverified_header(alice.token)
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt"
    jwks = users.jwks()["keys"]
    assert [k["kid"] for k in jwks] == [header["kid"]]
    assert jwks[0]["kty"] == "OKP" and jwks[0]["crv"] == "Ed25519" and "d" not in jwks[0]
    claims = users.claims(alice.token)
    assert claims["iss"] == "microblog-users" and claims["aud"] == "microblog"
    assert claims["sub"] == str(alice.id) and claims["client_id"] == alice.app.client_id
    assert claims["scope"] == "read write follow push" and claims["jti"].isdigit()
    lifetime = claims["exp"] - claims["iat"]
    assert lifetime == users.settings.access_token_lifetime_seconds
    assert abs(claims["iat"] - time.time()) < 60


def test_tokens_of_another_signer_or_claims_do_not_verify(users):
    alice = users.register("alice")
    claims = users.claims(alice.token)
    header = jwt.get_unverified_header(alice.token)
    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]}
    )
    try:
        users.claims(forged)
        raise AssertionError("a token signed by another key verified")
    except jwt.InvalidSignatureError:
        pass
    for wrong in ({"audience": "other"}, {"issuer": "someone-else"}):
        try:
            users.claims(alice.token, **wrong)
            raise AssertionError(f"verified with {wrong}")
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
            pass


def test_rotation_keeps_old_tokens_valid(users):
    alice = users.register("alice")
    old_kid = jwt.get_unverified_header(alice.token)["kid"]
    with users.app.state.db.unit_of_work() as session:
        new_kid = rotate_signing_key(session)
    users.app.state.runtime.keys.forget()  # what SIGNING_KEY_CACHE_SECONDS does on every replica
    fresh = users.login(alice.app, "alice").json()["access_token"]
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid != old_kid
    assert {k["kid"] for k in users.jwks()["keys"]} == {old_kid, new_kid}
    # Both verify against the published keys: nobody was signed out.
    assert users.claims(alice.token)["sub"] == users.claims(fresh)["sub"] == str(alice.id)
    assert users.as_(alice.token).get("/api/v1/accounts/verify_credentials").status_code == 200


def test_retired_keys_leave_the_jwks_after_their_tokens_expired(start_service):
    with start_service(access_token_lifetime_seconds=1) as users:
        first = {k["kid"] for k in users.jwks()["keys"]}
        with users.app.state.db.unit_of_work() as session:
            rotate_signing_key(session)
        assert len(users.jwks()["keys"]) == 2
        # Retired two days ago, its tokens (1 s lifetime) long expired, past the margin.
        with users.app.state.db.unit_of_work() as session:
            session.execute(
                update(SigningKey)
                .where(SigningKey.kid.in_(first))
                .values(retired_at=datetime.now(UTC) - timedelta(days=2))
            )
        assert {k["kid"] for k in users.jwks()["keys"]}.isdisjoint(first)


def test_configured_signing_key_is_used(start_service):
    key = Ed25519PrivateKey.generate()
    with start_service(token_signing_key=private_pem(key)) as users:
        alice = users.register("alice")
        # Verifies with the configured key's public half, nothing else needed.
        claims = jwt.decode(alice.token, key.public_key(), algorithms=["EdDSA"], audience="microblog")
        assert claims["sub"] == str(alice.id)


def test_revocation_feed_pages_by_cursor(users):
    alice = users.register("alice")
    tokens = [users.login(alice.app, "alice").json()["access_token"] for _ in range(3)]
    for token in tokens:
        users.client.post(
            "/oauth/revoke",
            data={"client_id": alice.app.client_id, "client_secret": alice.app.client_secret, "token": token},
        )
    page1 = users.client.get("/internal/token-revocations?after=0&limit=2").json()
    page2 = users.client.get(f"/internal/token-revocations?after={page1['next_cursor']}&limit=2").json()
    page3 = users.client.get(f"/internal/token-revocations?after={page2['next_cursor']}&limit=2").json()
    jtis = [r["jti"] for r in page1["revocations"] + page2["revocations"]]
    assert jtis == [users.claims(t)["jti"] for t in tokens]
    assert page3 == {"revocations": [], "next_cursor": page2["next_cursor"], "oldest_cursor": 1}
    expires = datetime.fromisoformat(page1["revocations"][0]["expires_at"])
    assert expires.tzinfo is not None and expires > datetime.now(UTC) + timedelta(days=365 * 9)


def test_revocation_feed_is_for_the_gateway_only(users):
    alice = users.register("alice")
    assert users.as_(alice.token).get("/internal/token-revocations").status_code == 403
    # Unsigned (not through the gateway): refused like everything else.
    assert users.raw.get("/internal/token-revocations").status_code == 403


def test_decode_refuses_forged_and_foreign_tokens(users):
    """The service's own verification (used by /oauth/revoke) pins EdDSA and checks iss/aud/exp."""
    alice = users.register("alice")
    runtime = users.app.state.runtime
    claims = users.claims(alice.token)
    kid = jwt.get_unverified_header(alice.token)["kid"]
    public_x = users.jwks()["keys"][0]["x"].encode()
    key = runtime.keys.active().private_key

    def signed(**changes):
        return jwt.encode({**claims, **changes}, key, algorithm="EdDSA", headers={"kid": kid})

    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    hmac_with_public_key = jwt.encode(claims, public_x, algorithm="HS256", headers={"kid": kid})
    unknown_kid = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "nope"})
    with users.app.state.db.unit_of_work() as session:
        assert tokens.decode(session, runtime, alice.token)["sub"] == str(alice.id)
        for bad in (
            unsigned,
            hmac_with_public_key,
            unknown_kid,
            signed(iss="elsewhere"),
            signed(aud="other"),
            signed(exp=int(time.time()) - 10),
            "not.a.jwt",
        ):
            assert tokens.decode(session, runtime, bad) is None
        # Revocation still recognises an expired token of ours.
        assert tokens.decode(session, runtime, signed(exp=int(time.time()) - 10), verify_exp=False)


def test_re_reading_the_signing_key_needs_no_second_connection(start_service, backend):
    """A sign-in that finds its cached key stale re-reads it through its own transaction: with one
    connection in the pool (a burst of sign-ins holding them all), it still gets a token at once."""
    if backend == "sqlite":
        pytest.skip("SQLite's engine does not take DB_POOL_SIZE; the PostgreSQL run covers this")
    with start_service(db_pool_size=1, db_max_overflow=0, signing_key_cache_seconds=0) as users:
        alice = users.register("alice")
        with users.app.state.db.unit_of_work() as session:
            new_kid = rotate_signing_key(session)
        started = time.monotonic()
        signed_in = users.login(alice.app, "alice")
        assert signed_in.status_code == 200, signed_in.text
        assert jwt.get_unverified_header(signed_in.json()["access_token"])["kid"] == new_kid
        assert time.monotonic() - started < 10  # the pool's own timeout is 30 s


def test_a_tokens_status_says_whether_it_is_live(users):
    """What the gateway asks about a token id it hasn't seen lately."""
    alice = users.register("alice")
    jti = users.claims(alice.token)["jti"]
    assert users.client.get(f"/internal/tokens/{jti}").json() == {"jti": jti, "active": True}
    users.client.post(
        "/oauth/revoke",
        data={
            "client_id": alice.app.client_id,
            "client_secret": alice.app.client_secret,
            "token": alice.token,
        },
    )
    assert users.client.get(f"/internal/tokens/{jti}").json() == {"jti": jti, "active": False}
    for unknown in ("123", "not-a-number", "9" * 40):
        assert users.client.get(f"/internal/tokens/{unknown}").json()["active"] is False
    assert users.as_(alice.token).get(f"/internal/tokens/{jti}").status_code == 403
    assert users.raw.get(f"/internal/tokens/{jti}").status_code == 403


def test_a_starting_gateway_gets_the_feeds_position_without_its_history(users):
    alice = users.register("alice")
    for _ in range(3):
        token = users.login(alice.app, "alice").json()["access_token"]
        users.client.post(
            "/oauth/revoke",
            data={"client_id": alice.app.client_id, "client_secret": alice.app.client_secret, "token": token},
        )
    everything = users.client.get("/internal/token-revocations?after=0").json()
    now = users.client.get("/internal/token-revocations?latest=true").json()
    assert now == {
        "revocations": [],
        "next_cursor": everything["next_cursor"],
        "oldest_cursor": everything["revocations"][0]["cursor"],
    }


def test_the_feed_and_spent_secrets_are_pruned_after_their_retention(start_service):
    """The event lane prunes feed rows past their window (the token itself stays revoked) and
    reset tokens and authorization codes once spent or expired past theirs."""
    with start_service(
        retention_interval_seconds=0.2,
        token_revocation_feed_retention_seconds=0.5,
        spent_secret_retention_seconds=0.5,
    ) as users:
        alice = users.register("alice")
        jti = users.claims(alice.token)["jti"]
        users.client.post(
            "/oauth/revoke",
            data={
                "client_id": alice.app.client_id,
                "client_secret": alice.app.client_secret,
                "token": alice.token,
            },
        )
        users.client.post("/api/v1/auth/password_reset", data={"email": alice.email})
        assert users.revoked_jtis() == {jti}
        assert _count(users, PasswordResetToken) == 1
        _expire_reset_tokens(users)
        assert wait_until(lambda: not users.revoked_jtis() and _count(users, PasswordResetToken) == 0, 5)
        assert users.client.get(f"/internal/tokens/{jti}").json()["active"] is False
        feed = users.client.get("/internal/token-revocations?after=0").json()
        assert feed["revocations"] == [] and feed["oldest_cursor"] is None


def _count(users, model) -> int:
    with users.app.state.db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _expire_reset_tokens(users) -> None:
    with users.app.state.db.unit_of_work() as session:
        session.execute(
            update(PasswordResetToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
