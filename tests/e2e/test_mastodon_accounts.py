"""Issue: accounts. The Mastodon.py library, pointed at the gateway, signs up, signs in (password
grant and the authorization-code flow through the real consent page), manages its profile and
follows; revoked and forged tokens are refused, and so are the tokens of a deleted or withdrawn
app; the password-reset flow works at the API.
Runs in the embedded mode and over PostgreSQL + RabbitMQ with a process per service."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import urljoin

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mastodon import Mastodon, MastodonAPIError, MastodonIllegalArgumentError, MastodonUnauthorizedError
from sqlalchemy import create_engine, text

from tests.e2e.conftest import WITH_WORKERS, read_form
from users import manage

# Also with every service's event lane in a worker process of its own.
pytestmark = WITH_WORKERS

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
        display_name="Alice A.",
        note="Hi, see https://example.com <script>x</script>",
        locked=True,
        bot=True,
        discoverable=True,
        fields=[("Site", "https://alice.example"), ("Pronouns", "she/her")],
        default_privacy="unlisted",
        default_language="en",
    )
    assert updated.display_name == "Alice A."
    assert '<a href="https://example.com"' in updated.note and "<script>" not in updated.note
    assert updated.locked is True and updated.bot is True and updated.discoverable is True
    assert [f.name for f in updated.fields] == ["Site", "Pronouns"]
    assert updated.fields[0].value.startswith('<a href="https://alice.example"')
    assert updated.source.privacy == "unlisted" and updated.source.language == "en"
    assert updated.source.fields[0].value == "https://alice.example"  # as typed
    alice.account_update_credentials(locked=False)  # the follows below are direct, not requests
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
    fan_ids = [fan.account_verify_credentials().id for fan in followers]
    for fan_id in fan_ids:
        bob.account_follow(fan_id)
    page = bob.account_following(bob_account.id, limit=2)
    following = [*page, *(bob.fetch_next(page) or [])]
    assert len(page) == 2 and sorted(a.id for a in following) == sorted(fan_ids)

    assert alice.account_unfollow(bob_account.id).following is False
    assert bob.account(bob_account.id).followers_count == 3
    with pytest.raises(MastodonAPIError):  # following yourself is a 422
        alice.account_follow(alice.account_verify_credentials().id)


def test_no_one_acts_on_another_accounts_behalf(microblog, app_credentials):
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
    carol, _ = _register(microblog, app_credentials, "carol")
    carol_id = carol.account_verify_credentials().id
    followed = httpx.post(
        f"{microblog.url}/api/v1/accounts/{carol_id}/follow",
        headers={"Authorization": f"Bearer {alice.access_token}", "X-User-Id": str(bob_id)},
        data={"account_id": str(bob_id)},
    )
    assert followed.status_code == 200 and followed.json()["following"] is True
    assert bob.account_relationships([carol_id])[0].following is False  # the follow is Alice's
    assert bob.account(bob_id).following_count == 0


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


def signing_key(database_url: str) -> tuple[str, Ed25519PrivateKey]:
    """The users service's active signing key, read from its database: with it a test can make
    tokens that are signed correctly and wrong in exactly one other way."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            kid, pem = conn.execute(
                text(
                    "SELECT kid, private_key_pem FROM signing_keys WHERE retired_at IS NULL "
                    "ORDER BY created_at DESC LIMIT 1"
                )
            ).one()
    finally:
        engine.dispose()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return kid, key


def _verify_credentials_status(microblog, token: str) -> tuple[int, dict]:
    r = httpx.get(
        f"{microblog.url}/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"}
    )
    return r.status_code, r.json()


def test_forged_tokens_are_refused(microblog, app_credentials):
    api, name = _register(microblog, app_credentials, "erin")
    header, payload, signature = api.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    kid, key = signing_key(microblog.database_urls["users"])

    def signed(key_id: str = kid, signer: Ed25519PrivateKey = key, **changes) -> str:
        headers = {"kid": key_id, "typ": "at+jwt"}
        return jwt.encode({**claims, **changes}, signer, algorithm="EdDSA", headers=headers)

    # The forging itself is sound: the same claims, signed with the real key, are accepted.
    status, body = _verify_credentials_status(microblog, signed())
    assert status == 200 and body["username"] == name

    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hmac_input = f"{_b64({'alg': 'HS256', 'kid': kid, 'typ': 'JWT'})}.{_b64(claims)}"
    hmac_signature = base64.urlsafe_b64encode(
        hmac.new(public_pem, hmac_input.encode(), hashlib.sha256).digest()
    ).rstrip(b"=")
    now = int(time.time())
    forgeries = {
        "alg none": f"{_b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{_b64(claims)}.",
        "HMAC signed with the public key": f"{hmac_input}.{hmac_signature.decode()}",
        "wrong issuer": signed(iss="https://issuer.example"),
        "wrong audience": signed(aud="someone-else"),
        "expired": signed(iat=now - 7200, exp=now - 3600),
        "unknown key id": signed(key_id="no-such-key"),
        "another key under the real key id": signed(signer=Ed25519PrivateKey.generate()),
        "tampered claims": f"{header}.{_b64({**claims, 'sub': '1'})}.{signature}",
        "not a token": "garbage",
    }
    refused = (401, {"error": "The access token is invalid"})
    for what, token in forgeries.items():
        assert _verify_credentials_status(microblog, token) == refused, what


def test_deleting_or_withdrawing_an_app_stops_its_tokens_within_five_seconds(microblog, monkeypatch):
    first_app, second_app = (
        Mastodon.create_app(name, scopes=SCOPES, redirect_uris=OOB, api_base_url=microblog.url)
        for name in ("first-app", "second-app")
    )
    first, name = _register(microblog, first_app, "gina")
    second = _client(microblog, second_app)
    second.log_in(f"{name}@example.com", PASSWORD, scopes=SCOPES, allow_http=True)

    # The account withdraws the first app's access (from a session of the second app).
    first_app_id = first.app_verify_credentials().id
    r = httpx.delete(
        f"{microblog.url}/oauth/authorized_applications/{first_app_id}",
        headers={"Authorization": f"Bearer {second.access_token}"},
    )
    assert r.status_code == 200, r.text
    assert _wait_refused(first) <= 5.0
    assert second.account_verify_credentials().username == name  # the other app keeps working

    # The operator deletes the second app (`python -m users.manage delete-app`).
    for variable, value in {
        "DATABASE_URL": microblog.database_urls["users"],
        "EVENT_BUS": "memory",
        "ENVIRONMENT": "development",
    }.items():
        monkeypatch.setenv(variable, value)
    assert manage.main(["delete-app", second_app[0]]) == 0
    assert _wait_refused(second) <= 5.0


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
