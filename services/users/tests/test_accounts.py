"""Registration, profiles and their rules (users.accounts)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from microblog_common.testing import MASTODON_ACCOUNT_FIELDS as EXPECTED_ACCOUNT_FIELDS
from users.models import Account, User

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Mastodon 4.3's CredentialAccount extras: `source` and the `role` every local account has.
EXPECTED_SOURCE_FIELDS = {
    "privacy", "sensitive", "language", "note", "fields", "follow_requests_count", "hide_collections",
    "discoverable", "indexable",
}  # fmt: skip
EXPECTED_ROLE_FIELDS = {"id", "name", "permissions", "color", "highlighted"}


def count_accounts(users) -> tuple[int, int]:
    with users.app.state.db.unit_of_work() as session:
        return (
            session.scalar(select(func.count()).select_from(Account)),
            session.scalar(select(func.count()).select_from(User)),
        )


def register_form(**overrides):
    form = {
        "username": "alice",
        "email": "alice@example.com",
        "password": "long enough pw",
        "agreement": "true",
    }
    return {**form, **overrides}


def test_register_returns_a_working_token_and_publishes(users):
    app = users.create_app()
    r = users.as_(users.app_token(app)).post("/api/v1/accounts", data={**register_form(), "locale": "fr"})
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["token_type"] == "Bearer" and token["scope"] == "read write follow push"
    assert isinstance(token["created_at"], int) and token["refresh_token"]

    me = users.as_(token["access_token"]).get("/api/v1/accounts/verify_credentials")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["username"] == "alice" and body["acct"] == "alice"
    assert "email" not in body and "alice@example.com" not in me.text
    assert body["source"]["privacy"] == "public" and body["source"]["note"] == ""
    assert EXPECTED_ACCOUNT_FIELDS <= set(body)
    assert body["avatar"] == f"http://127.0.0.1:8000/avatars/{body['id']}.png"

    (event,) = users.events("user.registered")
    assert event.subject == body["id"]
    assert event.data["email"] == "alice@example.com" and event.data["locale"] == "fr"


def test_register_accepts_json(users):
    app = users.create_app()
    r = users.as_(users.app_token(app)).post("/api/v1/accounts", json={**register_form(), "agreement": True})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"username": "ALICE"}, "username", "ERR_TAKEN"),  # taken without regard to case
        ({"email": "Alice@Example.com", "username": "other"}, "email", "ERR_TAKEN"),
        ({"username": "bad name!"}, "username", "ERR_INVALID"),
        ({"username": "x" * 31}, "username", "ERR_TOO_LONG"),
        ({"username": ""}, "username", "ERR_BLANK"),
        ({"email": "not-an-address", "username": "bob"}, "email", "ERR_INVALID"),
        ({"password": "short", "username": "bob", "email": "bob@example.com"}, "password", "ERR_TOO_SHORT"),
        ({"agreement": "0", "username": "bob", "email": "bob@example.com"}, "agreement", "ERR_ACCEPTED"),
    ],
)
def test_register_refusals_write_nothing(users, overrides, field, code):
    users.register("alice", email="alice@example.com")
    before = count_accounts(users)
    app = users.create_app()
    r = users.as_(users.app_token(app)).post("/api/v1/accounts", data=register_form(**overrides))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"].startswith("Validation failed")
    assert body["details"][field][0]["error"] == code
    assert count_accounts(users) == before


def test_register_reports_every_problem_at_once(users):
    app = users.create_app()
    r = users.as_(users.app_token(app)).post(
        "/api/v1/accounts", data={"username": "", "email": "x", "password": "1"}
    )
    assert r.status_code == 422
    assert set(r.json()["details"]) == {"username", "email", "password", "agreement"}


def test_register_needs_an_app_token_with_write(users):
    app = users.create_app()
    assert users.client.post("/api/v1/accounts", data=register_form()).status_code == 401
    read_only = users.app_token(app, scope="read")
    assert users.as_(read_only).post("/api/v1/accounts", data=register_form()).status_code == 403


def test_update_credentials_renders_a_safe_note(users):
    alice = users.register("alice")
    note = 'Hi <script>alert(1)</script> see https://example.com/a?b=1&c=2 <b>bold</b>\n\nsecond "para"'
    r = users.as_(alice.token).patch(
        "/api/v1/accounts/update_credentials",
        data={
            "display_name": "Alice A.",
            "note": note,
            "locked": "1",
            "bot": "0",
            "discoverable": "true",
            "fields_attributes[0][name]": "Site",
            "fields_attributes[0][value]": "https://alice.example",
            "fields_attributes[1][name]": "Pronouns",
            "fields_attributes[1][value]": "she/<i>her</i>",
            "source[language]": "en",
            "source[privacy]": "unlisted",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    html = body["note"]
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html  # shown as text, not run
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2"' in html and 'rel="nofollow noopener noreferrer"' in html
    )
    assert html.count("<p>") == 2
    assert body["source"]["note"] == note
    assert body["display_name"] == "Alice A." and body["locked"] is True and body["discoverable"] is True
    assert body["source"]["language"] == "en" and body["source"]["privacy"] == "unlisted"
    assert [f["name"] for f in body["fields"]] == ["Site", "Pronouns"]
    assert body["fields"][0]["value"].startswith('<a href="https://alice.example"')
    assert "<i>" not in body["fields"][1]["value"]
    assert body["source"]["fields"][1]["value"] == "she/<i>her</i>"

    (event,) = users.events("user.updated")
    assert event.data["version"] == 2 and event.data["note"] == html


def test_update_credentials_accepts_json_and_validates(users):
    alice = users.register("alice")
    caller = users.as_(alice.token)
    ok = caller.patch(
        "/api/v1/accounts/update_credentials",
        json={
            "note": "plain",
            "fields_attributes": [{"name": "a", "value": "b"}],
            "source": {"sensitive": True},
        },
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["source"]["sensitive"] is True
    too_long = caller.patch("/api/v1/accounts/update_credentials", json={"display_name": "x" * 31})
    assert too_long.status_code == 422 and too_long.json()["details"]
    five = {f"fields_attributes[{i}][name]": f"n{i}" for i in range(5)}
    assert caller.patch("/api/v1/accounts/update_credentials", data=five).status_code == 422
    bad_privacy = caller.patch("/api/v1/accounts/update_credentials", data={"source[privacy]": "direct"})
    assert bad_privacy.status_code == 422


def test_one_account_cannot_change_another(users):
    alice, bob = users.register("alice"), users.register("bob")
    # Whatever ids the body names, the change lands on the caller's own account.
    r = users.as_(bob.token).patch(
        "/api/v1/accounts/update_credentials",
        data={"display_name": "hacked", "id": str(alice.id), "account_id": str(alice.id)},
    )
    assert r.status_code == 200 and r.json()["id"] == str(bob.id)
    assert users.client.get(f"/api/v1/accounts/{alice.id}").json()["display_name"] == ""
    # No token, or a token without write scope, changes nothing.
    assert (
        users.client.patch("/api/v1/accounts/update_credentials", data={"display_name": "x"}).status_code
        == 401
    )
    read_token = users.login(alice.app, "alice", scope="read").json()["access_token"]
    assert (
        users.as_(read_token).patch("/api/v1/accounts/update_credentials", data={"note": "x"}).status_code
        == 403
    )


def test_show_and_lookup(users):
    alice = users.register("Alice")
    shown = users.client.get(f"/api/v1/accounts/{alice.id}")
    assert shown.status_code == 200 and shown.json()["username"] == "Alice"
    assert "source" not in shown.json()
    for acct in ("alice", "@ALICE", "alice@127.0.0.1:8000"):
        r = users.client.get("/api/v1/accounts/lookup", params={"acct": acct})
        assert r.status_code == 200 and r.json()["id"] == str(alice.id), acct
    assert (
        users.client.get("/api/v1/accounts/lookup", params={"acct": "alice@elsewhere.example"}).status_code
        == 404
    )
    assert users.client.get("/api/v1/accounts/lookup", params={"acct": "nobody"}).status_code == 404
    assert users.client.get("/api/v1/accounts/123").json() == {"error": "Record not found"}
    assert users.client.get("/api/v1/accounts/not-an-id").status_code == 404


def test_every_account_everywhere_has_every_field_and_no_email(users):
    alice, bob = users.register("alice"), users.register("bob")
    users.as_(bob.token).post(f"/api/v1/accounts/{alice.id}/follow")
    me = users.as_(alice.token).get("/api/v1/accounts/verify_credentials")
    source, role = me.json()["source"], me.json()["role"]
    assert EXPECTED_SOURCE_FIELDS <= set(source) and EXPECTED_ROLE_FIELDS <= set(role)
    assert role["permissions"] == "65536" and role["highlighted"] is False  # Mastodon's "everyone" role
    assert isinstance(source["fields"], list) and source["follow_requests_count"] == 0

    answers = [
        me,
        users.as_(alice.token).patch("/api/v1/accounts/update_credentials", data={"note": "hello"}),
        users.client.get(f"/api/v1/accounts/{alice.id}"),
        users.client.get("/api/v1/accounts/lookup", params={"acct": "alice"}),
        users.client.get(f"/api/v1/accounts/{alice.id}/followers"),
        users.client.get(f"/api/v1/accounts/{bob.id}/following"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        for account in body if isinstance(body, list) else [body]:
            assert EXPECTED_ACCOUNT_FIELDS <= set(account), answer.url
            assert account["emojis"] == [] and account["roles"] == [] and account["moved"] is None
            # Mastodon rounds the creation time down to midnight UTC.
            assert account["created_at"].endswith("T00:00:00Z"), account["created_at"]
        for email in (alice.email, bob.email, "@example.com"):
            assert email not in answer.text, answer.url


def test_verify_credentials_needs_a_user_token(users):
    app = users.create_app()
    assert users.client.get("/api/v1/accounts/verify_credentials").status_code == 401
    # As Mastodon: the app's token is valid, but it speaks for no one.
    app_only = users.as_(users.app_token(app)).get("/api/v1/accounts/verify_credentials")
    assert app_only.status_code == 422
    assert app_only.json() == {"error": "This method requires an authenticated user"}


def test_default_avatars_are_distinct_and_stable(users):
    a = users.client.get("/avatars/117000000000000001.png")
    b = users.client.get("/avatars/117000000000000002.png")
    assert a.status_code == 200 and a.headers["content-type"] == "image/png"
    assert a.headers["cache-control"] == "public, max-age=86400"
    assert a.content.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(a.content)) as image:
        assert image.format == "PNG" and image.size == (400, 400)
    assert a.content != b.content
    assert a.content == users.client.get("/avatars/117000000000000001.png").content
    header = users.client.get("/avatars/header.png")
    assert header.status_code == 200 and header.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(header.content)) as image:
        assert image.format == "PNG" and image.size == (1500, 500)
    assert users.client.get("/avatars/nope.png").status_code == 404
    assert users.client.get("/avatars/117000000000000001.svg").status_code == 404
