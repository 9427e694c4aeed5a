"""Password reset end to end at the API (users.password_reset)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import update

from users.models import PasswordResetToken

NEW_PASSWORD = "a brand new passphrase"


def request_reset(users, email: str) -> str:
    before = len(users.captured.of_type("user.password_reset_requested"))
    r = users.client.post("/api/v1/auth/password_reset", data={"email": email})
    assert r.status_code == 202 and r.json() == {}
    return users.events("user.password_reset_requested", before + 1)[-1].data["token"]


def test_reset_end_to_end(users):
    alice = users.register("alice")
    other_session = users.login(alice.app, "alice").json()["access_token"]
    token = request_reset(users, "ALICE@example.com")

    event = users.captured.of_type("user.password_reset_requested")[-1]
    assert event.data["email"] == "alice@example.com" and event.data["user_id"] == str(alice.id)
    reset_url = urlsplit(event.data["reset_url"])
    assert event.data["reset_url"].startswith("http://127.0.0.1:8000/auth/reset?")
    assert parse_qs(reset_url.query)["token"] == [token]
    expires = datetime.fromisoformat(event.data["expires_at"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)

    done = users.client.post(
        "/api/v1/auth/password_reset/confirm", data={"token": token, "password": NEW_PASSWORD}
    )
    assert done.status_code == 200, done.text

    assert users.login(alice.app, "alice", alice.password).status_code == 400  # old password refused
    assert users.login(alice.app, "alice", NEW_PASSWORD).status_code == 200  # new one accepted
    revoked = users.revoked_jtis()  # every token the account had is revoked
    assert {users.claims(t)["jti"] for t in (alice.token, other_session)} <= revoked
    refresh = users.token(alice.app, grant_type="refresh_token", refresh_token=alice.refresh_token)
    assert refresh.status_code == 400

    again = users.client.post(
        "/api/v1/auth/password_reset/confirm", data={"token": token, "password": "yet another one"}
    )
    assert again.status_code == 422  # single use
    assert users.login(alice.app, "alice", NEW_PASSWORD).status_code == 200


def pending_code(users, app) -> str:
    """An authorization code granted on the consent page and not exchanged yet."""
    query = {"client_id": app.client_id, "redirect_uri": users.OOB, "response_type": "code"}
    form = users.hidden_fields(users.client.get("/oauth/authorize", params=query).text)
    granted = users.client.post(
        "/oauth/authorize", data={**form, "username": "alice", "password": users.PASSWORD}
    )
    assert granted.status_code == 303, granted.text
    return granted.headers["location"].split("code=")[1]


def test_reset_also_ends_codes_not_yet_exchanged(users):
    """Someone who knew the old password and got a code must not turn it into a token after the
    reset (Mastodon revokes the grants with the tokens)."""
    alice = users.register("alice")
    code = pending_code(users, alice.app)
    token = request_reset(users, alice.email)
    confirm = {"token": token, "password": NEW_PASSWORD}
    assert users.client.post("/api/v1/auth/password_reset/confirm", data=confirm).status_code == 200
    exchanged = users.token(alice.app, grant_type="authorization_code", code=code, redirect_uri=users.OOB)
    assert exchanged.status_code == 400 and exchanged.json()["error"] == "invalid_grant"


def test_unknown_address_gets_the_same_answer_and_no_event(users):
    users.register("alice")
    r = users.client.post("/api/v1/auth/password_reset", json={"email": "nobody@example.com"})
    assert r.status_code == 202 and r.json() == {}
    assert users.events("user.password_reset_requested", timeout=0.5) == []


def test_expired_and_superseded_tokens_are_refused(users):
    alice = users.register("alice")
    first = request_reset(users, alice.email)
    second = request_reset(users, alice.email)
    superseded = users.client.post(
        "/api/v1/auth/password_reset/confirm", json={"token": first, "password": NEW_PASSWORD}
    )
    assert superseded.status_code == 422
    with users.app.state.db.unit_of_work() as session:
        session.execute(
            update(PasswordResetToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = users.client.post(
        "/api/v1/auth/password_reset/confirm", json={"token": second, "password": NEW_PASSWORD}
    )
    assert expired.status_code == 422
    assert users.login(alice.app, "alice").status_code == 200  # nothing changed


def test_confirm_validates_the_new_password(users):
    alice = users.register("alice")
    token = request_reset(users, alice.email)
    short = users.client.post(
        "/api/v1/auth/password_reset/confirm", json={"token": token, "password": "short"}
    )
    assert short.status_code == 422
    assert short.json()["details"]["password"] == [
        {"error": "ERR_TOO_SHORT", "description": "is too short (minimum is 8 characters)"}
    ]
    # A refused attempt does not spend the token.
    ok = users.client.post(
        "/api/v1/auth/password_reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert ok.status_code == 200


def test_requests_are_limited_per_address_known_or_not(users):
    users.register("alice")
    for email in ("alice@example.com", "nobody@example.com"):
        answers = [
            users.client.post("/api/v1/auth/password_reset", data={"email": email}).status_code
            for _ in range(6)
        ]
        assert answers == [202] * 5 + [429]  # the same for an unknown address: nothing to enumerate
    limited = users.client.post("/api/v1/auth/password_reset", data={"email": "ALICE@example.com"})
    assert limited.status_code == 429 and "error" in limited.json()
    other = users.client.post("/api/v1/auth/password_reset", data={"email": "someone@example.com"})
    assert other.status_code == 202  # other addresses are unaffected
    # The outbox relay delivers after the response: wait for the five, then make sure no sixth follows.
    assert len(users.events("user.password_reset_requested", count=5)) == 5
    assert len(users.events("user.password_reset_requested", count=6, timeout=0.5)) == 5
