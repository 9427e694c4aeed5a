"""Apps, the OAuth grants, the sign-in and consent page, refresh rotation, revocation
(users.oauth)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

from users import manage
from users.models import User
from users.passwords import Passwords

CALLBACK = "https://client.example/callback"
OOB = "urn:ietf:wg:oauth:2.0:oob"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


# -- apps ----------------------------------------------------------------------------------


def test_create_app_and_verify_credentials(users):
    app = users.create_app(redirect_uris=f"{CALLBACK}\n{OOB}", website="https://client.example")
    body = app.body
    assert body["name"] == "Test app" and body["website"] == "https://client.example"
    assert body["scopes"] == ["read", "write", "follow", "push"]
    assert body["redirect_uris"] == [CALLBACK, OOB] and body["redirect_uri"] == f"{CALLBACK}\n{OOB}"
    assert body["client_secret_expires_at"] == 0 and body["client_id"] and body["client_secret"]

    verified = users.as_(users.app_token(app)).get("/api/v1/apps/verify_credentials")
    assert verified.status_code == 200, verified.text
    assert verified.json()["name"] == "Test app" and "client_secret" not in verified.json()
    assert users.client.get("/api/v1/apps/verify_credentials").status_code == 401


def test_create_app_validates(users):
    r = users.client.post(
        "/api/v1/apps", json={"client_name": "x", "redirect_uris": ["not a uri"], "scopes": "read"}
    )
    assert r.status_code == 422
    r = users.client.post(
        "/api/v1/apps", data={"client_name": "x", "redirect_uris": OOB, "scopes": "read nonsense"}
    )
    assert r.status_code == 422 and "nonsense" in r.json()["error"]
    assert users.client.post("/api/v1/apps", data={"redirect_uris": OOB}).status_code == 422
    listed = users.client.post("/api/v1/apps", json={"client_name": "x", "redirect_uris": [CALLBACK, OOB]})
    assert listed.status_code == 200 and listed.json()["scopes"] == ["read"]


def test_metadata_lists_the_endpoints(users):
    body = users.client.get("/.well-known/oauth-authorization-server").json()
    assert body["token_endpoint"] == "http://127.0.0.1:8000/oauth/token"
    assert body["authorization_endpoint"] == "http://127.0.0.1:8000/oauth/authorize"
    assert body["revocation_endpoint"] == "http://127.0.0.1:8000/oauth/revoke"
    assert "password" in body["grant_types_supported"] and "S256" in body["code_challenge_methods_supported"]
    assert "read:accounts" in body["scopes_supported"]


# -- password and client_credentials grants ------------------------------------------------


def test_password_grant_by_email_or_username(users):
    alice = users.register("alice")
    for identifier in ("alice@example.com", "ALICE"):
        r = users.login(alice.app, identifier)
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == users.ALL_SCOPES and r.headers["cache-control"] == "no-store"
        assert users.claims(r.json()["access_token"])["sub"] == str(alice.id)


def test_sign_in_upgrades_an_outdated_password_hash(users):
    alice = users.register("alice")
    runtime = users.app.state.runtime
    with users.app.state.db.unit_of_work() as session:
        before = session.get(User, alice.id).password_hash
    runtime.passwords = Passwords(users.settings.model_copy(update={"argon2_time_cost": 2}))
    assert users.login(alice.app, "alice").status_code == 200
    with users.app.state.db.unit_of_work() as session:
        after = session.get(User, alice.id).password_hash
    assert before != after and "t=2" in after and "t=1" in before


def test_wrong_password_and_unknown_user_look_the_same(users):
    alice = users.register("alice")
    wrong = users.login(alice.app, "alice@example.com", "wrong password")
    unknown = users.login(alice.app, "nobody@example.com", users.PASSWORD)
    assert wrong.status_code == unknown.status_code == 400  # invalid_grant, as Doorkeeper
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_grant" and wrong.json()["error_description"]


def test_grants_check_the_client_and_scopes(users):
    alice = users.register("alice")
    app = alice.app
    bad_secret = users.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": "x"},
    )
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    narrow = users.create_app(scopes="read")
    assert users.login(narrow, "alice", scope="read write").json()["error"] == "invalid_scope"
    granular = users.login(narrow, "alice", scope="read:accounts")
    assert granular.status_code == 200 and granular.json()["scope"] == "read:accounts"
    assert users.token(app, grant_type="magic").json()["error"] == "unsupported_grant_type"
    assert users.token(app).json()["error"] == "invalid_request"


def test_client_auth_by_http_basic(users):
    app = users.create_app()
    basic = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
    r = users.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    claims = users.claims(r.json()["access_token"])
    assert claims["sub"] == "" and claims["client_id"] == app.client_id and claims["scope"] == "read"
    assert "refresh_token" not in r.json()
    wrong = base64.b64encode(f"{app.client_id}:nope".encode()).decode()
    refused = users.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {wrong}"}
    )
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")


# -- authorization code with PKCE, through the HTML page -----------------------------------


def consent(
    users, app, *, redirect_uri=CALLBACK, challenge=None, method="S256", state="xyz", username="alice"
):
    """Drive the page as a browser: GET it, then post the form back with credentials."""
    query = {
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": users.ALL_SCOPES,
        "state": state,
    }
    if challenge:
        query |= {"code_challenge": challenge, "code_challenge_method": method}
    page = users.client.get("/oauth/authorize", params=query)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "Test app" in page.text and '<form method="post" action="/oauth/authorize">' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    form = users.hidden_fields(page.text)
    return users.client.post(
        "/oauth/authorize",
        data={**form, "username": username, "password": users.PASSWORD, "decision": "approve"},
    )


def code_from(response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def exchange(users, app, code, verifier=None, redirect_uri=CALLBACK):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        form["code_verifier"] = verifier
    return users.token(app, **form)


def test_code_flow_with_pkce_s256(users):
    alice = users.register("alice", app=users.create_app(redirect_uris=CALLBACK))
    verifier, challenge = pkce_pair()
    code = code_from(consent(users, alice.app, challenge=challenge))
    r = exchange(users, alice.app, code, verifier)
    assert r.status_code == 200, r.text
    assert users.claims(r.json()["access_token"])["sub"] == str(alice.id)
    assert r.json()["scope"] == users.ALL_SCOPES and r.json()["refresh_token"]
    # A code is single-use; replaying it also revokes what it was exchanged for.
    jti = users.claims(r.json()["access_token"])["jti"]
    again = exchange(users, alice.app, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert jti in users.revoked_jtis()


def test_code_flow_refuses_a_wrong_verifier(users):
    alice = users.register("alice", app=users.create_app(redirect_uris=CALLBACK))
    _, challenge = pkce_pair()
    code = code_from(consent(users, alice.app, challenge=challenge))
    assert exchange(users, alice.app, code, pkce_pair()[0]).json()["error"] == "invalid_grant"
    assert exchange(users, alice.app, code).json()["error"] == "invalid_grant"


def test_code_flow_with_plain_pkce_and_without_pkce(users):
    alice = users.register("alice", app=users.create_app(redirect_uris=CALLBACK))
    verifier = secrets.token_urlsafe(48)
    code = code_from(consent(users, alice.app, challenge=verifier, method="plain"))
    assert exchange(users, alice.app, code, verifier).status_code == 200
    # Mastodon apps (and Mastodon.py) often use no PKCE at all: confidential clients may.
    code = code_from(consent(users, alice.app))
    assert exchange(users, alice.app, code).status_code == 200
    code = code_from(consent(users, alice.app))
    assert (
        exchange(users, alice.app, code, redirect_uri="https://evil.example/").json()["error"]
        == "invalid_grant"
    )


def test_out_of_band_code_is_shown_on_a_page(users):
    alice = users.register("alice")
    posted = consent(users, alice.app, redirect_uri=OOB)
    assert posted.status_code == 303
    page = users.client.get(posted.headers["location"])
    assert page.status_code == 200
    code = page.text.split('id="authorization-code">')[1].split("<")[0]
    assert exchange(users, alice.app, code, redirect_uri=OOB).status_code == 200


def code_from_oob_page(users, app) -> str:
    page = users.client.get(consent(users, app, redirect_uri=OOB).headers["location"])
    return page.text.split('id="authorization-code">')[1].split("<")[0]


def test_consent_page_wrong_password_deny_and_csrf(users):
    alice = users.register("alice", app=users.create_app(redirect_uris=CALLBACK))
    query = {
        "client_id": alice.app.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "state": "s",
    }
    form = users.hidden_fields(users.client.get("/oauth/authorize", params=query).text)
    wrong = users.client.post("/oauth/authorize", data={**form, "username": "alice", "password": "nope"})
    assert wrong.status_code == 401 and "Invalid email address" in wrong.text
    denied = users.client.post("/oauth/authorize", data={**form, "decision": "deny"})
    assert denied.status_code == 302 and "error=access_denied" in denied.headers["location"]
    forged = {**form, "authenticity_token": "0" * 64}
    refused = users.client.post(
        "/oauth/authorize", data={**forged, "username": "alice", "password": users.PASSWORD}
    )
    assert refused.status_code == 403 and "code=" not in refused.headers.get("location", "")
    users.raw.cookies.clear()  # a cross-site post carries no cookie of ours
    cookieless = users.client.post(
        "/oauth/authorize", data={**form, "username": "alice", "password": users.PASSWORD}
    )
    assert cookieless.status_code == 403


def test_authorize_page_refuses_bad_requests(users):
    app = users.create_app(redirect_uris=CALLBACK)
    unknown = users.client.get("/oauth/authorize", params={"client_id": "nope", "response_type": "code"})
    assert unknown.status_code == 400 and "text/html" in unknown.headers["content-type"]
    wrong_uri = users.client.get(
        "/oauth/authorize",
        params={"client_id": app.client_id, "redirect_uri": "https://evil.example/", "response_type": "code"},
    )
    assert wrong_uri.status_code == 400  # never redirects to an unregistered URI
    bad_scope = users.client.get(
        "/oauth/authorize",
        params={
            "client_id": app.client_id,
            "redirect_uri": CALLBACK,
            "response_type": "code",
            "scope": "admin:write",
        },
    )
    assert bad_scope.status_code == 302 and "error=invalid_scope" in bad_scope.headers["location"]


# -- refresh tokens ------------------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_family(users):
    alice = users.register("alice")
    first = users.login(alice.app, "alice").json()
    second = users.token(alice.app, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert users.claims(second["access_token"])["sub"] == str(alice.id)
    first_jti = users.claims(first["access_token"])["jti"]
    assert first_jti in users.revoked_jtis()  # the rotated-out access token ends too

    third = users.token(alice.app, grant_type="refresh_token", refresh_token=second["refresh_token"]).json()
    # Someone replays the first refresh token: the whole family is revoked.
    replay = users.token(alice.app, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    revoked = users.revoked_jtis()
    for token in (second, third):
        assert users.claims(token["access_token"])["jti"] in revoked
    assert (
        users.token(alice.app, grant_type="refresh_token", refresh_token=third["refresh_token"]).status_code
        == 400
    )
    # Other sessions of the same account are untouched.
    assert users.claims(alice.token)["jti"] not in revoked


def test_refresh_token_belongs_to_its_app(users):
    alice = users.register("alice")
    first = users.login(alice.app, "alice").json()
    other = users.create_app()
    assert (
        users.token(other, grant_type="refresh_token", refresh_token=first["refresh_token"]).status_code
        == 400
    )


# -- revocation ----------------------------------------------------------------------------


def test_revoke_appears_in_the_feed(users):
    alice = users.register("alice")
    token = users.login(alice.app, "alice").json()
    jti = users.claims(token["access_token"])["jti"]
    feed = users.client.get("/internal/token-revocations").json()
    r = users.client.post(
        "/oauth/revoke",
        data={
            "client_id": alice.app.client_id,
            "client_secret": alice.app.client_secret,
            "token": token["access_token"],
        },
    )
    assert r.status_code == 200 and r.json() == {}
    later = users.client.get(f"/internal/token-revocations?after={feed['next_cursor']}").json()
    assert [row["jti"] for row in later["revocations"]] == [jti]
    assert later["next_cursor"] > feed["next_cursor"]
    # The refresh token died with it.
    assert (
        users.token(alice.app, grant_type="refresh_token", refresh_token=token["refresh_token"]).status_code
        == 400
    )


def test_revoke_rules(users):
    alice = users.register("alice")
    other = users.create_app()
    form = {"client_id": other.client_id, "client_secret": other.client_secret, "token": alice.token}
    refused = users.client.post("/oauth/revoke", data=form)
    assert refused.status_code == 403 and refused.json()["error"] == "unauthorized_client"
    unknown = users.client.post("/oauth/revoke", data={**form, "token": "not-a-token"})
    assert unknown.status_code == 200  # RFC 7009: nothing to say about unknown tokens
    bad_client = users.client.post("/oauth/revoke", data={**form, "client_secret": "x"})
    assert bad_client.status_code == 401
    by_refresh = users.client.post(
        "/oauth/revoke",
        data={
            "client_id": alice.app.client_id,
            "client_secret": alice.app.client_secret,
            "token": alice.refresh_token,
        },
    )
    assert by_refresh.status_code == 200 and users.claims(alice.token)["jti"] in users.revoked_jtis()


def test_withdrawing_an_app_revokes_its_tokens(users):
    alice = users.register("alice")
    extra = users.login(alice.app, "alice").json()["access_token"]
    other_app_token = users.login(users.create_app(), "alice").json()["access_token"]
    pending = code_from_oob_page(users, alice.app)  # granted, not exchanged yet
    r = users.as_(other_app_token).delete(f"/oauth/authorized_applications/{alice.app.body['id']}")
    assert r.status_code == 200, r.text
    revoked = users.revoked_jtis()
    assert {users.claims(t)["jti"] for t in (alice.token, extra)} <= revoked
    assert users.claims(other_app_token)["jti"] not in revoked
    # The pending code is withdrawn too: it would have become a token.
    assert exchange(users, alice.app, pending, redirect_uri=OOB).json()["error"] == "invalid_grant"


def test_deleting_an_app_revokes_every_token_it_holds(users, monkeypatch):
    """`python -m users.manage delete-app`: what "deleting the app" is here (Mastodon deletes apps
    in its settings pages, not through the API)."""
    alice = users.register("alice")
    signed_in = users.login(alice.app, "alice").json()["access_token"]
    app_only = users.app_token(alice.app)
    elsewhere = users.login(users.create_app(), "alice").json()["access_token"]
    environment = {
        "DATABASE_URL": users.settings.database_url,
        "EVENT_BUS": "memory",
        "ENVIRONMENT": "test",
        "INTERNAL_SECRET": users.settings.internal_secret.get_secret_value(),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert manage.main(["delete-app", alice.app.client_id]) == 0
    revoked = users.revoked_jtis()
    assert {users.claims(t)["jti"] for t in (alice.token, signed_in, app_only)} <= revoked
    assert users.claims(elsewhere)["jti"] not in revoked  # another app's token is untouched
    assert users.token(alice.app, grant_type="client_credentials").status_code == 401
    assert users.as_(app_only).get("/api/v1/apps/verify_credentials").status_code == 401
    assert manage.main(["delete-app", alice.app.client_id]) == 1  # already gone
    # Client ids may start with "-": never mistaken for an option.
    assert manage.main(["delete-app", "-" + alice.app.client_id]) == 1


def test_userinfo(users):
    alice = users.register("alice")
    info = users.as_(alice.token).get("/oauth/userinfo")
    assert info.status_code == 403  # Mastodon wants the `profile` scope
    profile = users.login(alice.app, "alice", scope="profile")
    assert profile.status_code == 400 and profile.json()["error"] == "invalid_scope"
    app = users.create_app(scopes="read profile")
    token = users.login(app, "alice", scope="profile").json()["access_token"]
    body = users.as_(token).get("/oauth/userinfo").json()
    assert body["preferred_username"] == "alice" and body["sub"].endswith("/users/alice")


def test_the_authorized_applications_list_what_may_act_for_you(users):
    """The web UI's settings list the apps holding live tokens for you, with their scopes and
    last use, and revoking one takes it off the list."""
    alice = users.register("alice")
    other = users.create_app(scopes="read write", client_name="Phone app")
    phone = users.login(other, "alice", scope="read").json()["access_token"]
    users.register("bob")  # someone else's apps never show
    listed = users.as_(alice.token).get("/oauth/authorized_applications")
    assert listed.status_code == 200, listed.text
    by_id = {item["id"]: item for item in listed.json()}
    assert set(by_id) == {str(alice.app.body["id"]), str(other.body["id"])}
    assert by_id[str(other.body["id"])]["name"] == "Phone app"
    assert by_id[str(other.body["id"])]["scopes"] == ["read"]
    assert by_id[str(other.body["id"])]["last_used_at"] is None
    assert set(by_id[str(alice.app.body["id"])]["scopes"]) == set(users.ALL_SCOPES.split())

    # The gateway asking about a token it hasn't seen is a use.
    jti = users.claims(phone)["jti"]
    assert users.client.get(f"/internal/tokens/{jti}").json()["active"] is True
    used = {item["id"]: item for item in users.as_(alice.token).get("/oauth/authorized_applications").json()}
    assert used[str(other.body["id"])]["last_used_at"] is not None

    assert (
        users.as_(alice.token).delete(f"/oauth/authorized_applications/{other.body['id']}").status_code == 200
    )
    after = users.as_(alice.token).get("/oauth/authorized_applications").json()
    assert [item["id"] for item in after] == [str(alice.app.body["id"])]
    # Only with a user's token, and a read scope.
    assert users.client.get("/oauth/authorized_applications").status_code == 401
    write_only = users.login(users.create_app(scopes="write"), "alice", scope="write").json()["access_token"]
    assert users.as_(write_only).get("/oauth/authorized_applications").status_code == 403


def test_the_consent_page_speaks_the_visitors_language(users):
    """English or Spanish: `lang` (Mastodon's parameter, what the web UI sends), the web UI's
    language cookie, or the browser's; the choice stays with the form when it comes back."""
    alice = users.register("alice", app=users.create_app(redirect_uris=CALLBACK))
    query = {"client_id": alice.app.client_id, "redirect_uri": CALLBACK, "response_type": "code"}
    spanish = users.client.get("/oauth/authorize", params={**query, "lang": "es"})
    assert '<html lang="es">' in spanish.text and "Contraseña" in spanish.text
    assert "Leer todos los datos de tu cuenta" in spanish.text
    assert 'href="/oauth/authorize?' in spanish.text and "lang=en" in spanish.text  # the switch
    by_browser = users.client.get("/oauth/authorize", params=query, headers={"Accept-Language": "es-MX,es"})
    assert '<html lang="es">' in by_browser.text
    english = users.client.get("/oauth/authorize", params=query, headers={"Accept-Language": "de, en"})
    assert '<html lang="en">' in english.text and "Password" in english.text
    form = users.hidden_fields(spanish.text)
    assert form["lang"] == "es"
    wrong = users.client.post("/oauth/authorize", data={**form, "username": "alice", "password": "nope"})
    assert wrong.status_code == 401 and "contraseña incorrectos" in wrong.text
