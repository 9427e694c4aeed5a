import pytest

from microblog_common.testing import BACKENDS, check_service_plumbing, database_url
from users.app import create_app
from users.settings import Settings


@pytest.mark.parametrize("backend", BACKENDS)
def test_service_plumbing(request, tmp_path, backend):
    check_service_plumbing(create_app, Settings, database_url(request, tmp_path, backend, "users"))


def test_passwords_and_tokens_never_reach_the_logs(start_service, capsys):
    """Every path that handles a password, a token, a code or a client secret, including the
    failures (which are the ones that get logged), with the service logging at INFO."""
    with start_service(log_level="INFO") as users:
        alice = users.register("alice")
        app = alice.app
        secrets = {users.PASSWORD, alice.token, alice.refresh_token, app.client_secret, alice.email}

        wrong_password = "not-her-password-123"
        secrets.add(wrong_password)
        assert users.login(app, "alice", wrong_password).status_code == 400
        assert users.login(app, "nobody", wrong_password).status_code == 400
        signed_in = users.login(app, "alice@example.com").json()
        refreshed = users.token(app, grant_type="refresh_token", refresh_token=signed_in["refresh_token"])
        replayed = users.token(app, grant_type="refresh_token", refresh_token=signed_in["refresh_token"])
        assert refreshed.status_code == 200 and replayed.status_code == 400
        secrets |= {signed_in["access_token"], signed_in["refresh_token"]}
        secrets |= {refreshed.json()["access_token"], refreshed.json()["refresh_token"]}

        query = {"client_id": app.client_id, "redirect_uri": users.OOB, "response_type": "code"}
        form = users.hidden_fields(users.client.get("/oauth/authorize", params=query).text)
        refused = users.client.post(
            "/oauth/authorize", data={**form, "username": "alice", "password": wrong_password}
        )
        assert refused.status_code == 401
        granted = users.client.post(
            "/oauth/authorize", data={**form, "username": "alice", "password": users.PASSWORD}
        )
        code = granted.headers["location"].split("code=")[1]
        exchanged = users.token(app, grant_type="authorization_code", code=code, redirect_uri=users.OOB)
        replayed_code = users.token(app, grant_type="authorization_code", code=code, redirect_uri=users.OOB)
        assert exchanged.status_code == 200 and replayed_code.status_code == 400
        secrets |= {code, exchanged.json()["access_token"], exchanged.json()["refresh_token"]}

        revoke = {"client_id": app.client_id, "client_secret": app.client_secret}
        assert users.client.post("/oauth/revoke", data={**revoke, "token": alice.token}).status_code == 200

        new_password = "the brand new passphrase"
        secrets.add(new_password)
        users.client.post("/api/v1/auth/password_reset", data={"email": alice.email})
        reset_token = users.events("user.password_reset_requested")[0].data["token"]
        secrets.add(reset_token)
        confirm = {"token": reset_token, "password": new_password}
        assert users.client.post("/api/v1/auth/password_reset/confirm", data=confirm).status_code == 200
        assert users.client.post("/api/v1/auth/password_reset/confirm", data=confirm).status_code == 422
        short = users.as_(users.app_token(app)).post(
            "/api/v1/accounts", data={"username": "bob", "email": "bob@example.com", "password": "sh0rt"}
        )
        assert short.status_code == 422 and "sh0rt" not in short.text
        secrets.add("sh0rt")

    logged = capsys.readouterr().out
    # The log did capture these requests (so an empty capture can't pass the test).
    for event in ("sign_in_failed", "refresh_token_reused", "password_reset_done", "password_reset_refused"):
        assert event in logged, event
    leaked = sorted(s for s in secrets if s and s in logged)
    assert leaked == []
