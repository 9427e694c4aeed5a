"""Issue: accounts. The Mastodon.py library, pointed at the gateway, signs up, signs in (password
grant and the authorization-code flow through the real consent page), manages its profile and
follows; revoked and forged tokens are refused; the password-reset flow works at the API.
Runs in the embedded mode and over PostgreSQL + RabbitMQ with a process per service."""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import urljoin

import httpx
import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonIllegalArgumentError, MastodonUnauthorizedError

from tests.e2e.conftest import read_form

SCOPES = ["read", "write", "follow"]
OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def app_credentials(microblog):
    return Mastodon.create_app("e2e-client", scopes=SCOPES, redirect_uris=OOB, api_base_url=microblog.url)


def _client(microblog, creds, token: str | None = None) -> Mastodon:
    return Mastodon(
        client_id=creds[0], client_secret=creds[1], access_token=token, api_base_url=microblog.url
    )


def _register(microblog, creds, prefix: str) -> tuple[Mastodon, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    api = _client(microblog, creds)
    api.create_account(name, PASSWORD, f"{name}@example.com", agreement=True, scopes=SCOPES)
    return api, name


def _wait_refused(api: Mastodon, timeout: float = 5.0) -> float:
    """Seconds until the token is refused everywhere (the issue allows at most 5)."""
    started = time.monotonic()
    while True:
        try:
            api.account_verify_credentials()
        except MastodonUnauthorizedError:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, "token still accepted after 5 s"
        time.sleep(0.2)


def test_sign_up_and_sign_in_with_the_password_grant(microblog, app_credentials):
    api, name = _register(microblog, app_credentials, "alice")
    me = api.account_verify_credentials()
    assert me.username == name and me.acct == name
    assert me.source.privacy == "public" and "email" not in me
    again = _client(microblog, app_credentials)
    again.log_in(f"{name}@example.com", PASSWORD, scopes=SCOPES, allow_http=True)
    assert again.account_verify_credentials().id == me.id
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):
        _client(microblog, app_credentials).log_in(
            f"{name}@example.com", "wrong password", scopes=SCOPES, allow_http=True
        )


def test_sign_in_with_the_authorization_code_flow_through_the_consent_page(microblog, app_credentials):
    _, name = _register(microblog, app_credentials, "carol")
    api = _client(microblog, app_credentials)
    url = api.auth_request_url(redirect_uris=OOB, scopes=SCOPES, allow_http=True)
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        page = browser.get(url)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        form = read_form(page.text)
        answer = browser.post(
            urljoin(str(page.url), form.action or str(page.url)),
            data={**form.fields, "username": name, "password": PASSWORD, "decision": "approve"},
        )
    assert answer.status_code == 200, answer.text
    code = read_form(answer.text).texts["authorization-code"]
    api.log_in(code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=True)
    assert api.account_verify_credentials().username == name
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):  # a code is single-use
        _client(microblog, app_credentials).log_in(
            code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=True
        )


def test_profile_follows_and_relationships(microblog, app_credentials):
    alice, _ = _register(microblog, app_credentials, "alice")
    bob, bob_name = _register(microblog, app_credentials, "bob")
    followers = [_register(microblog, app_credentials, f"fan{n}")[0] for n in range(3)]

    updated = alice.account_update_credentials(
        display_name="Alice A.", note="Hi, see https://example.com <script>x</script>"
    )
    assert updated.display_name == "Alice A."
    assert '<a href="https://example.com"' in updated.note and "<script>" not in updated.note
    assert bob.account_verify_credentials().display_name != "Alice A."  # only her own profile changed

    bob_account = alice.account_lookup(bob_name)
    relationship = alice.account_follow(bob_account.id)
    assert relationship.following is True
    assert alice.account_follow(bob_account.id).following is True  # idempotent
    assert alice.account_relationships([bob_account.id])[0].following is True
    assert bob.account_relationships([alice.account_verify_credentials().id])[0].followed_by is True
    assert bob.account(bob_account.id).followers_count == 1

    for fan in followers:
        fan.account_follow(bob_account.id)
    first = bob.account_followers(bob_account.id, limit=2)
    assert len(first) == 2
    rest = bob.fetch_next(first)
    assert rest is not None and len(rest) == 2
    everyone = {a.id for a in first} | {a.id for a in rest}
    assert len(everyone) == 4
    assert [a.acct for a in alice.account_following(alice.account_verify_credentials().id)] == [bob_name]

    assert alice.account_unfollow(bob_account.id).following is False
    assert bob.account(bob_account.id).followers_count == 3
    with pytest.raises(MastodonAPIError):  # following yourself is a 422
        alice.account_follow(alice.account_verify_credentials().id)


def test_a_forged_identity_header_does_not_change_who_acts(microblog, app_credentials):
    alice, _ = _register(microblog, app_credentials, "alice")
    bob, _ = _register(microblog, app_credentials, "bob")
    bob_id = bob.account_verify_credentials().id
    r = httpx.patch(
        f"{microblog.url}/api/v1/accounts/update_credentials",
        headers={"Authorization": f"Bearer {alice.access_token}", "X-User-Id": str(bob_id)},
        data={"display_name": "hijacked"},
    )
    assert r.status_code == 200 and r.json()["id"] != str(bob_id)
    assert bob.account_verify_credentials().display_name != "hijacked"


def test_revoking_a_token_stops_it_within_five_seconds(microblog, app_credentials):
    api, _ = _register(microblog, app_credentials, "dave")
    api.account_verify_credentials()
    _revoke(api)
    assert _wait_refused(api) <= 5.0


def _revoke(api: Mastodon) -> None:
    revoked_token = api.access_token
    api.revoke_access_token(allow_http=True)
    api.access_token = revoked_token  # Mastodon.py forgets it; keep it to prove it is refused


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_forged_tokens_are_refused(microblog, app_credentials):
    api, _ = _register(microblog, app_credentials, "erin")
    header, payload, signature = api.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forgeries = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "tampered claims": f"{header}.{_b64({**claims, 'sub': '1'})}.{signature}",
        "not a token": "garbage",
    }
    for what, token in forgeries.items():
        r = httpx.get(
            f"{microblog.url}/api/v1/accounts/verify_credentials",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 401, what
        assert r.json() == {"error": "The access token is invalid"}


def test_password_reset_end_to_end(microblog, app_credentials):
    api, name = _register(microblog, app_credentials, "frank")
    email = f"{name}@example.com"
    assert httpx.post(f"{microblog.url}/api/v1/auth/password_reset", json={"email": email}).status_code == 202
    assert (
        httpx.post(
            f"{microblog.url}/api/v1/auth/password_reset", json={"email": "nobody@example.com"}
        ).status_code
        == 202
    )
    event = microblog.latest_event("users", "user.password_reset_requested")
    assert event["data"]["email"] == email
    token = event["data"]["token"]
    new_password = "a brand new passphrase"
    confirm = f"{microblog.url}/api/v1/auth/password_reset/confirm"
    assert httpx.post(confirm, json={"token": token, "password": new_password}).status_code == 200
    assert httpx.post(confirm, json={"token": token, "password": "another one 123"}).status_code in (
        400,
        404,
        422,
    )
    assert _wait_refused(api) <= 5.0  # the reset revoked every token of the account
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):
        _client(microblog, app_credentials).log_in(email, PASSWORD, scopes=SCOPES, allow_http=True)
    fresh = _client(microblog, app_credentials)
    fresh.log_in(email, new_password, scopes=SCOPES, allow_http=True)
    assert fresh.account_verify_credentials().username == name
