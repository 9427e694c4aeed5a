"""Issue: the web UI, over plain HTTP in both run modes (embedded, as `make run` serves it, and a
process per service over PostgreSQL and RabbitMQ): a person signs up, posts, reads it back; what
they typed is shown as text; forms from elsewhere change nothing; `?next=` stays on the site;
signing out revokes the token. And, with the gateway behind a proxy it trusts, one browser over
its registration limit locks out no one else, though every browser's requests reach the API
through the web service."""

from __future__ import annotations

import re
import uuid
from html import unescape

import httpx
import pytest

from devstack.embedded_process import EmbeddedProcess

PASSWORD = "correct horse battery staple"


def _token(html: str) -> str:
    match = re.search(r'name="authenticity_token" value="([^"]+)"', html)
    assert match, html[-2000:]
    return match.group(1)


def _browser(base: str, address: str | None = None) -> httpx.Client:
    headers = {"Accept": "text/html", "Origin": base}
    if address:
        headers["X-Forwarded-For"] = address
    return httpx.Client(base_url=base, headers=headers, timeout=30)


def _sign_up(client: httpx.Client, name: str) -> httpx.Response:
    form = client.get("/auth/sign_up")
    return client.post(
        "/auth/sign_up",
        data={
            "authenticity_token": _token(form.text),
            "username": name,
            "email": f"{name}@example.com",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
            "agreement": "1",
        },
    )


def test_sign_up_post_read_and_sign_out(microblog):
    name = f"page_{uuid.uuid4().hex[:6]}"
    with _browser(microblog.url) as browser:
        signed_up = _sign_up(browser, name)
        assert signed_up.status_code == 303 and signed_up.headers["location"] == "/home", signed_up.text[
            -2000:
        ]
        home = browser.get("/home")
        assert home.status_code == 200 and "script-src 'self'" in home.headers["content-security-policy"]
        key = re.search(r'name="idempotency_key" value="([^"]+)"', home.text).group(1)
        form = {
            "authenticity_token": _token(home.text),
            "idempotency_key": key,
            "status": "Look: <script>alert(1)</script> & <b>bold</b>",
            "visibility": "public",
            "language": "en",
            "next": "/home",
        }
        posted = browser.post("/statuses", data=form)
        assert posted.status_code == 303
        again = browser.post("/statuses", data=form)  # the same form sent twice: one post
        assert again.status_code == 303
        page = browser.get(f"/@{name}")
        assert (
            page.text.count("Look: &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;") == 1
        )
        assert "<script>alert(1)</script>" not in page.text

        # A form from another site changes nothing, even with a valid token.
        forged = browser.post(
            "/statuses", data={**form, "idempotency_key": "x"}, headers={"Origin": "http://evil"}
        )
        assert forged.status_code == 403
        assert browser.get(f"/@{name}").text.count("Look: ") == 1

        # The session's token: revoked at sign-out, the cookie alone is worth nothing after it.
        session_cookie = browser.cookies.get("microblog_session")
        out = browser.post("/auth/sign_out", data={"authenticity_token": _token(browser.get("/home").text)})
        assert out.status_code == 303 and out.headers["location"] == "/"
    with _browser(microblog.url) as replay:
        replay.cookies.set("microblog_session", session_cookie)
        answer = replay.get("/home")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/auth/sign_in")


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_next_leads_only_to_this_site(microblog, target):
    """Signing in with `?next=` pointing elsewhere lands at home."""
    name = f"next_{uuid.uuid4().hex[:6]}"
    with _browser(microblog.url) as browser:
        assert _sign_up(browser, name).status_code == 303
        out = browser.post("/auth/sign_out", data={"authenticity_token": _token(browser.get("/home").text)})
        assert out.status_code == 303
        start = browser.get("/auth/sign_in", params={"next": target})
        consent = browser.get(start.headers["location"])
        fields = {
            k: unescape(v)
            for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text)
        }
        granted = browser.post(
            "/oauth/authorize", data={**fields, "username": name, "password": PASSWORD, "decision": "approve"}
        )
        assert granted.status_code == 302, granted.text[-1000:]
        back = browser.get(granted.headers["location"])
        assert back.status_code == 303 and back.headers["location"] == "/home"


def test_one_browser_over_its_registration_limit_locks_out_no_one_else(tmp_path):
    """Every sign-up reaches the API from the web service; the browser's address travels with it
    (signed), so the gateway's per-address limit counts browsers, not the web server."""
    env = {"TRUSTED_PROXIES": "127.0.0.1", "RATE_LIMIT_REGISTRATION": "2/30 minutes"}
    with EmbeddedProcess(tmp_path / "data", env=env) as run:

        def sign_up_from(address: str) -> httpx.Response:
            with _browser(run.gateway_url, address) as browser:  # a fresh browser each time
                return _sign_up(browser, f"u_{uuid.uuid4().hex[:8]}")

        abuser = [sign_up_from("203.0.113.10") for _ in range(3)]
        someone_else = sign_up_from("203.0.113.20")
    assert [r.status_code for r in abuser] == [303, 303, 429]
    assert "You have done that too often" in abuser[2].text
    assert someone_else.status_code == 303 and someone_else.headers["location"] == "/home"
