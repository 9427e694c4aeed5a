"""What the web service answers before any API call: its headers, its forms' protection, its
static files, and where it sends someone who is not signed in."""

from __future__ import annotations

import re

from .conftest import PUBLIC_URL

HTML = {"Accept": "text/html"}


def _token(html: str) -> str:
    return re.search(r'name="authenticity_token" value="([^"]+)"', html).group(1)


def test_pages_carry_a_strict_policy_and_a_csrf_secret(web):
    page = web.get("/auth/sign_up", headers=HTML)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("microblog_csrf=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    # No script or style is inline: the page loads ours by URL.
    assert "<script>" not in page.text and "<style" not in page.text and " style=" not in page.text
    assert re.search(r'<script src="/static/app\.[0-9a-f]{12}\.js" defer></script>', page.text)


def test_a_form_without_its_token_or_from_another_site_changes_nothing(web):
    page = web.get("/auth/sign_up", headers=HTML)
    token = _token(page.text)
    form = {"authenticity_token": token, "username": "mallory", "email": "m@example.com"}
    other_site = web.post("/auth/sign_up", data=form, headers={"Origin": "http://evil.example"})
    assert other_site.status_code == 403 and "another site" in other_site.text
    by_referer = web.post("/auth/sign_up", data=form, headers={"Referer": "http://evil.example/form"})
    assert by_referer.status_code == 403
    no_token = web.post(
        "/auth/sign_up", data={**form, "authenticity_token": "x"}, headers={"Origin": PUBLIC_URL}
    )
    assert no_token.status_code == 403
    # The right token from this site gets through the check (the passwords differ: 422, no API call).
    ours = web.post(
        "/auth/sign_up",
        data={**form, "password": "a" * 10, "password_confirmation": "b" * 10, "agreement": "1"},
        headers={"Origin": PUBLIC_URL},
    )
    assert ours.status_code == 422 and "not the same" in ours.text
    # What was typed stays in the form; the password does not.
    assert (
        'value="mallory"' in ours.text and 'value="m@example.com"' in ours.text and "a" * 10 not in ours.text
    )


def test_pages_that_need_a_session_send_to_sign_in_and_back(web):
    for path in ("/home", "/notifications", "/settings/profile", "/scheduled", "/compose"):
        answer = web.get(path + "?x=1", headers=HTML)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/auth/sign_in?next=" + path.replace("/", "%2F") + "%3Fx%3D1"
    assert web.get("/stream").status_code == 401


def test_a_forged_session_cookie_is_no_session(web):
    answer = web.get("/home", headers={**HTML, "Cookie": "microblog_session=abc.def"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/auth/sign_in")


def test_static_files_have_fingerprinted_names_and_are_cached_for_good(web):
    page = web.get("/auth/reset", headers=HTML)
    css = re.search(r'href="(/static/app\.[0-9a-f]{12}\.css)"', page.text).group(1)
    asset = web.get(css)
    assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/css")
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert web.get(css, headers={"If-None-Match": asset.headers["etag"]}).status_code == 304
    assert web.get("/static/app.css").status_code == 404
    assert web.get("/static/app.000000000000.css").status_code == 404


def test_unknown_pages_and_the_password_reset_link_page(web):
    missing = web.get("/nothing/here", headers=HTML)
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    reset = web.get("/auth/reset?token=abc", headers=HTML)
    assert reset.status_code == 200 and 'name="token" value="abc"' in reset.text


def test_the_language_follows_the_browser_then_the_switch(web):
    spanish = web.get("/auth/sign_up", headers={**HTML, "Accept-Language": "es-ES,es;q=0.9"})
    assert '<html lang="es">' in spanish.text and "Crear una cuenta" in spanish.text
    token = _token(spanish.text)
    switched = web.post(
        "/language",
        data={"authenticity_token": token, "locale": "en", "next": "/auth/sign_up"},
        headers={"Origin": PUBLIC_URL, "Accept-Language": "es"},
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/auth/sign_up"
    assert "microblog_locale=en" in switched.headers["set-cookie"]
    english = web.get("/auth/sign_up", headers={**HTML, "Accept-Language": "es"})
    assert '<html lang="en">' in english.text and "Create an account" in english.text
