"""Issue: the web UI. Two people use Microblog in a real Chromium against the whole system (every
service its own process over PostgreSQL and RabbitMQ, behind the gateway): sign up, sign in
through the consent page, post, follow, see the feed update live, reply, favourite, search with
a typo, translate, get a notification live, schedule and cancel a post, reset a password through
the emailed link, switch to Spanish, sign out; the main pages on a phone's width too; no serious
or critical accessibility violation on the main pages (axe-core); screenshots for the README.

Accounts are reused within the module (one browser, a context per person), so the suite stays
within a few minutes."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from devstack.mail import bodies
from devstack.servers import free_port
from tests.e2e.browser import (
    PHONE,
    Browser,
    Person,
    axe_violations,
    browser_session,
    new_person,
    screenshot,
    sign_in,
    sign_up,
)

# The whole scenario over the local processes (PostgreSQL, RabbitMQ, a process per service);
# `test_web_pages.py` runs the pages over HTTP in both run modes.
pytestmark = pytest.mark.parametrize("microblog", ["local"], indirect=True, scope="session")
# What arrives live crosses the broker and a stream; on a busy 2-core machine (the suite runs on
# two workers) that can take longer than Playwright's 5 s default.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from browser_session()


class Someone:
    """A person with their own browser context (cookies: their session)."""

    def __init__(self, browser: Browser, base: str, person: Person, **options: Any):
        self.person = person
        self.base = base
        self.context = browser.context(**options)
        self.page = self.context.new_page()
        # Alerts a page opens (a script that should never run); our confirmations are accepted.
        self.alerts: list[str] = []
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        if dialog.type == "confirm":
            dialog.accept()
            return
        self.alerts.append(dialog.message)
        dialog.dismiss()

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page


@pytest.fixture(scope="module")
def alice(browser: Browser, microblog) -> Iterator[Someone]:
    someone = Someone(browser, microblog.url, new_person("alice"))
    sign_up(someone.page, microblog.url, someone.person)
    yield someone
    someone.context.close()


@pytest.fixture(scope="module")
def bob(browser: Browser, microblog) -> Iterator[Someone]:
    someone = Someone(browser, microblog.url, new_person("bob"))
    sign_up(someone.page, microblog.url, someone.person)
    yield someone
    someone.context.close()


def _post(someone: Someone, text: str, **options: str) -> None:
    page = someone.go("/home")
    page.get_by_label("What's on your mind?").fill(text)
    if options:
        page.get_by_text("Options: content warning, visibility, language, schedule").click()
        if "language" in options:
            page.locator("#compose-language").select_option(options["language"])
        if "scheduled_at" in options:
            page.locator("#compose-schedule").fill(options["scheduled_at"])
    page.get_by_role("button", name="Publish").click()


# -- signing up and in ----------------------------------------------------------------------


def test_sign_up_then_sign_out_and_in_through_the_consent_page(alice, microblog):
    page = alice.page
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Welcome to Microblog!")
    screenshot(page, "home-empty-desktop")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(microblog.url + "/")
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")
    # A page that needs a session sends to sign in, and back to it after.
    alice.go("/settings/profile")
    page.wait_for_url(re.compile(r".*/oauth/authorize\?.*"))
    screenshot(page, "sign-in-desktop")
    sign_in(page, microblog.url, alice.person, next_path="/home")
    expect(page.get_by_role("status")).to_contain_text("Welcome back!")


def test_a_mistyped_sign_up_keeps_what_was_typed_and_says_what_is_wrong(browser, microblog, alice):
    visitor = Someone(browser, microblog.url, new_person("carol"))
    page = visitor.go("/auth/sign_up")
    page.get_by_label("Username").fill(alice.person.username)  # taken
    page.get_by_label("Email address").fill("carol@example.com")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_label(re.compile("I agree")).check()
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below.")
    expect(page.locator("#username-errors")).to_contain_text("This username is taken")
    expect(page.locator("#password-errors")).to_contain_text("at least 8 characters")
    expect(page.get_by_label("Email address")).to_have_value("carol@example.com")
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    visitor.context.close()


# -- posting, following, the live feed -------------------------------------------------------


def test_follow_from_a_profile(alice, bob):
    bob.go(f"/@{alice.person.username}")
    bob.page.get_by_role("button", name="Follow").click()
    expect(bob.page.get_by_role("status")).to_contain_text("You follow")
    expect(bob.page.get_by_role("button", name="Unfollow")).to_be_visible()
    bob.page.get_by_role("link", name=re.compile("followers")).click()
    expect(bob.page.locator("#account-list")).to_contain_text(bob.person.username)


def test_post_with_the_character_counter(alice):
    page = alice.go("/home")
    box = page.get_by_label("What's on your mind?")
    box.fill("Hello from Alice, the first post https://example.com/a/very/long/link/that/counts/as/23")
    # The counter counts as the server does: a link is 23 characters.
    expect(page.locator("#compose-counter")).to_have_text("444 characters left")
    box.fill("x" * 501)
    expect(page.locator("#compose-counter")).to_have_text("1 character too many")
    box.fill("Hello from Alice, the first post https://example.com/a/very/long/link/that/counts/as/23")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_contain_text("Your post is published.")
    expect(page.locator("#status-list")).to_contain_text("Hello from Alice, the first post")


def test_the_followers_feed_updates_live(alice, bob, microblog):
    bob.go("/home")
    expect(bob.page.locator("body")).to_have_attribute("data-live", "true")
    _post(alice, "A second post, for whoever is reading right now")
    button = bob.page.get_by_role("button", name=re.compile(r"Show 1 new post"))
    expect(button).to_be_visible(timeout=10_000)
    button.click()
    feed = bob.page.locator("#status-list")
    expect(feed).to_contain_text("A second post, for whoever is reading right now")
    screenshot(bob.page, "home-desktop")


def test_reply_and_favourite_in_place(alice, bob):
    page = bob.go(f"/@{alice.person.username}")
    page.get_by_role("link", name=re.compile("ago|just now")).first.click()
    expect(page.get_by_role("heading", name=re.compile("Post by"))).to_be_attached()
    replied_to = page.locator(".status-focus .status-content").inner_text().strip()
    favourite = page.locator(".status-focus .favourite")
    favourite.click()
    expect(favourite).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".status-focus .favourites-count")).to_have_text("1")
    page.get_by_label(re.compile("Reply to")).fill(f"@{alice.person.username} Welcome, Alice!")
    page.get_by_role("button", name="Reply", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Your post is published.")
    # Back on the thread, the reply under the post.
    expect(page.locator(".thread-replies")).to_contain_text("Welcome, Alice!")
    screenshot(page, "thread-desktop")
    # The reply's own page shows what it answers.
    page.locator(".thread-replies").get_by_role("link", name=re.compile("ago|just now")).first.click()
    expect(page.locator(".thread-ancestors")).to_contain_text(replied_to)


def test_a_notification_arrives_live_with_the_unread_badge(alice, bob, microblog):
    page = alice.go("/home")
    expect(page.locator("body")).to_have_attribute("data-live", "true")
    badge = page.locator("#unread-badge")
    before = int(badge.get_attribute("data-count") or 0)
    bob.go(f"/@{alice.person.username}")
    bob.page.get_by_role("link", name=re.compile("ago|just now")).first.click()
    bob.page.get_by_label(re.compile("Reply to")).fill(f"@{alice.person.username} Are you there?")
    bob.page.get_by_role("button", name="Reply", exact=True).click()
    expect(badge).to_have_attribute("data-count", str(before + 1), timeout=10_000)
    expect(badge).to_be_visible()
    alice.go("/notifications")
    expect(alice.page.locator("#notification-list")).to_contain_text("Are you there?")
    expect(alice.page.locator("#notification-list")).to_contain_text("favourited your post")
    # Seeing them marks them read.
    alice.go("/home")
    expect(alice.page.locator("#unread-badge")).to_be_hidden()
    alice.go("/notifications?type=mention")
    expect(alice.page.locator("#notification-list")).not_to_contain_text("favourited your post")
    screenshot(alice.page, "notifications-desktop")


# -- search, translation ---------------------------------------------------------------------


def test_search_with_a_typo_and_highlighted_matches(alice, bob, microblog):
    _post(alice, "Sunflowers bloom in the garden this morning")
    page = bob.go("/search")
    page.get_by_label("Words to find").fill("sunflowrs garden")
    page.get_by_role("button", name="Search").click()
    results = page.locator("#search-results")
    expect(results).to_contain_text("Sunflowers bloom in the garden", timeout=10_000)
    expect(results.locator("mark").first).to_be_visible()
    screenshot(page, "search-desktop")
    # Typo tolerance off: the misspelt word finds nothing.
    page.get_by_text("Filters").click()
    page.get_by_label("Spelling").select_option("false")
    page.get_by_label("Words to find").fill("sunflowrs")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Nothing found")).to_be_visible()


def test_translate_a_post_in_place(alice, bob, microblog):
    _post(alice, "Hola a todos, hoy hace un día precioso en la ciudad", language="es")
    page = bob.go(f"/@{alice.person.username}")
    post = page.locator("article", has_text="Hola a todos")
    post.get_by_role("button", name="Translate").click()
    translation = post.locator(".translation")
    expect(translation).to_be_visible(timeout=15_000)
    expect(translation).to_contain_text(re.compile("Translated from Spanish by .+"))
    screenshot(page, "translation-desktop")


# -- scheduling ------------------------------------------------------------------------------


def test_schedule_then_move_then_cancel_a_post(alice):
    when = (datetime.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    _post(alice, "A post for the day after tomorrow", scheduled_at=when.strftime("%Y-%m-%dT%H:%M"))
    page = alice.page
    page.wait_for_url(re.compile(r".*/scheduled$"))
    expect(page.get_by_role("status")).to_contain_text("Your post will be published on")
    item = page.locator(".scheduled-item", has_text="A post for the day after tomorrow")
    expect(item).to_be_visible()
    later = when + timedelta(days=1)
    item.get_by_label("New time").fill(later.strftime("%Y-%m-%dT%H:%M"))
    item.get_by_role("button", name="Change the time").click()
    expect(page.get_by_role("status")).to_contain_text("The time has been changed.")
    screenshot(page, "scheduled-desktop")
    page.locator(".scheduled-item", has_text="A post for the day after tomorrow").get_by_role(
        "button", name="Cancel this post"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("The scheduled post has been cancelled.")
    expect(page.locator(".scheduled-item", has_text="A post for the day after tomorrow")).to_have_count(0)


# -- editing, history, deleting; settings -----------------------------------------------------


def test_edit_a_post_see_its_history_then_delete_it(alice):
    _post(alice, "A post with a tpyo in it")
    page = alice.page
    page.locator("#status-list article", has_text="A post with a tpyo in it").get_by_role(
        "link", name="Edit"
    ).click()
    text = page.get_by_label("Text")
    expect(text).to_have_value("A post with a tpyo in it")
    text.fill("A post with a typo fixed in it")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Your post has been edited.")
    expect(page.locator(".status-focus")).to_contain_text("A post with a typo fixed in it")
    page.get_by_role("link", name="Edit history").click()
    versions = page.locator(".history-version")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("A post with a typo fixed in it")
    expect(versions.last).to_contain_text("A post with a tpyo in it")
    page.get_by_role("link", name="Back to the post").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Your post has been deleted.")
    expect(page.locator("#status-list")).not_to_contain_text("A post with a typo fixed in it")


def test_settings_profile_defaults_and_email(alice):
    page = alice.go("/settings/profile")
    page.get_by_label("Display name").fill("Alice Liddell")
    page.get_by_label("Bio").fill("Curiouser and curiouser.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Your profile has been saved.")
    alice.go(f"/@{alice.person.username}")
    expect(page.get_by_role("heading", name="Alice Liddell")).to_be_visible()
    expect(page.locator(".account-note")).to_contain_text("Curiouser and curiouser.")

    alice.go("/settings/preferences")
    page.get_by_label("Who can see them by default").select_option("unlisted")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Your preferences have been saved.")
    alice.go("/home")
    page.get_by_text("Options: content warning, visibility, language, schedule").click()
    expect(page.locator("#compose-visibility")).to_have_value("unlisted")
    alice.go("/settings/preferences")
    page.get_by_label("Who can see them by default").select_option("public")
    page.get_by_role("button", name="Save").click()

    alice.go("/settings/notifications")
    favourites = page.get_by_label("someone favourites my post")
    was = favourites.is_checked()
    favourites.set_checked(not was)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Your email settings have been saved.")
    expect(page.get_by_label("someone favourites my post")).to_be_checked(checked=not was)


# -- security in the browser -----------------------------------------------------------------


def test_a_script_posted_as_text_is_shown_as_text(alice, bob):
    hostile = "<script>alert('xss')</script><img src=x onerror=alert('img')> <b>bold?</b>"
    _post(alice, hostile)
    page = bob.go(f"/@{alice.person.username}")
    post = page.locator("article", has_text="<script>alert('xss')</script>")
    expect(post).to_be_visible()
    expect(post.locator(".status-content")).to_contain_text("<img src=x onerror=alert('img')> <b>bold?</b>")
    assert post.locator(".status-content script, .status-content img, .status-content b").count() == 0
    page.wait_for_timeout(300)
    assert bob.alerts == [] and alice.alerts == []


class _Attacker(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        page = (
            "<!doctype html><form id=f method=post action='" + self.target + "/statuses'>"
            "<input name=status value='Posted by another site'><input name=authenticity_token value=x>"
            "</form><script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_form_posted_from_another_origin_is_refused(bob, microblog):
    _Attacker.target = microblog.url
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = bob.page
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        page.wait_for_url(f"{microblog.url}/statuses")
        expect(page.get_by_role("heading", name="This form could not be sent")).to_be_visible()
    finally:
        server.shutdown()
    bob.go(f"/@{bob.person.username}")
    expect(bob.page.locator("#status-list")).not_to_contain_text("Posted by another site")


# -- password reset, language, sign out ------------------------------------------------------


def _reset_link(microblog, person: Person) -> str:
    """The link of the password-reset email sent to `person` (notify's email: an SMTP server here,
    files in the embedded mode)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for message in microblog.mailbox.received(to=person.email):
            match = re.search(r"https?://\S+/auth/reset\?token=[\w\-]+", bodies(message)[0])
            if match:
                return match.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no password-reset email reached {person.email}")


def test_reset_a_password_through_the_emailed_link(browser, microblog):
    someone = Someone(browser, microblog.url, new_person("dave"))
    sign_up(someone.page, microblog.url, someone.person)
    someone.page.get_by_role("button", name="Sign out").click()
    page = someone.go("/auth/reset")
    page.get_by_label("Email address").fill(someone.person.email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = _reset_link(microblog, someone.person)
    assert link.startswith(microblog.url + "/auth/reset?token=")
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change my password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password has been changed.")
    # The link works once.
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("yet another passphrase")
    page.get_by_label("New password again").fill("yet another passphrase")
    page.get_by_role("button", name="Change my password").click()
    expect(page.get_by_role("alert")).to_contain_text("This link has expired or was already used.")
    someone.person.password = "a brand new passphrase"
    sign_in(page, microblog.url, someone.person)
    someone.context.close()


def test_switch_to_spanish(alice, microblog):
    page = alice.go("/home")
    page.get_by_label("Language", exact=True).last.select_option("es")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name="Inicio")).to_be_visible()
    expect(page.get_by_role("link", name="Notificaciones")).to_be_visible()
    screenshot(page, "home-spanish-desktop")
    # The account's choice: another browser signing in as Alice gets Spanish too.
    page.get_by_label("Idioma", exact=True).last.select_option("en")
    page.get_by_role("button", name="Cambiar").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_sign_out_revokes_the_token(browser, microblog):
    someone = Someone(browser, microblog.url, new_person("erin"))
    sign_up(someone.page, microblog.url, someone.person)
    # The token the web UI holds shows as its application's on the settings page.
    page = someone.go("/settings/applications")
    expect(page.locator(".app-name")).to_have_text(["Microblog web"])
    # Another app of the same person (Mastodon.py's password grant) sees the web's token go.
    other = httpx.post(
        f"{microblog.url}/api/v1/apps",
        data={"client_name": "checker", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read"},
    ).json()
    token = httpx.post(
        f"{microblog.url}/oauth/token",
        data={
            "grant_type": "password", "username": someone.person.email, "password": someone.person.password,
            "client_id": other["client_id"], "client_secret": other["client_secret"], "scope": "read",
        },
    ).json()["access_token"]  # fmt: skip

    def apps() -> list[str]:
        answer = httpx.get(
            f"{microblog.url}/oauth/authorized_applications", headers={"Authorization": f"Bearer {token}"}
        )
        return sorted(app["name"] for app in answer.json())

    assert apps() == ["Microblog web", "checker"]
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(microblog.url + "/")
    assert apps() == ["checker"]
    someone.go("/home")
    page.wait_for_url(re.compile(r".*/oauth/authorize\?.*"))
    someone.context.close()


# -- a phone's width, accessibility ----------------------------------------------------------


def test_the_main_pages_on_a_phone(browser, microblog, alice):
    phone = Someone(browser, microblog.url, alice.person, **PHONE)
    sign_in(phone.page, microblog.url, alice.person)
    page = phone.page
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    # Nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_label("What's on your mind?").fill("Written on a phone")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_contain_text("Your post is published.")
    expect(page.locator("#status-list")).to_contain_text("Written on a phone")
    screenshot(page, "home-phone")
    for path, name in (
        (f"/@{alice.person.username}", "profile-phone"),
        ("/notifications", "notifications-phone"),
    ):
        phone.go(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        screenshot(page, name)
    phone.go("/search?q=sunflowers")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone.context.close()


MAIN_PAGES = [
    "/home", "/public", "/@{alice}", "/notifications", "/search?q=garden", "/scheduled",
    "/settings/profile", "/settings/preferences", "/compose",
]  # fmt: skip


def test_no_serious_accessibility_violation_on_the_main_pages(browser, microblog, alice):
    found: dict[str, Any] = {}
    page = alice.page
    for path in MAIN_PAGES:
        alice.go(path.format(alice=alice.person.username))
        found[path] = axe_violations(page)
    visitor = Someone(browser, microblog.url, new_person("visitor"))
    for path in ("/", "/auth/sign_up", "/auth/reset"):
        visitor.go(path)
        found[path] = axe_violations(visitor.page)
        if path == "/":
            screenshot(visitor.page, "front-desktop")
    visitor.go("/auth/sign_in")
    visitor.page.wait_for_url(re.compile(r".*/oauth/authorize\?.*"))
    found["/oauth/authorize"] = axe_violations(visitor.page)
    visitor.context.close()
    assert {path: v for path, v in found.items() if v} == {}
