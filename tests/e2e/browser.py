"""A real Chromium for the web UI's end-to-end tests: pip's `playwright` driving Debian's
`chromium` (`make test` installs it; `playwright install` can't download browsers here), the
accessibility check (axe-core, from the `axe-playwright-python` package on PyPI, run in the page),
and the screenshots the README shows (written to docs/screenshots/ with UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# The flags that run Debian's Chromium headless as root in a container.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The README's images are refreshed only on request (`UPDATE_SCREENSHOTS=1`), so a test run leaves
# the working tree clean; otherwise they go to `.screenshots/` (ignored by git) for a look.
_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = _ROOT / ("docs/screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else ".screenshots")
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
PASSWORD = "correct horse battery staple"
# axe-core impacts that fail the check.
BLOCKING = {"serious", "critical"}


def launch() -> Any:
    """`(playwright, browser)`, or a skip saying what is missing."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; `make test` installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (`make setup` installs it)")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")), args=CHROMIUM_ARGS
    )
    return playwright, browser


@dataclass
class Person:
    username: str
    email: str
    password: str = PASSWORD


def new_person(prefix: str) -> Person:
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    return Person(name, f"{name}@example.com")


def sign_up(page: Any, base: str, person: Person) -> None:
    page.goto(f"{base}/auth/sign_up")
    page.get_by_label("Username").fill(person.username)
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password", exact=True).fill(person.password)
    page.get_by_label("Password again").fill(person.password)
    page.get_by_label(re.compile("I agree")).check()
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(f"{base}/home")


def sign_in(page: Any, base: str, person: Person, next_path: str = "/home") -> None:
    """Through the API's own sign-in and consent page, as any Mastodon app's users do."""
    page.goto(f"{base}/auth/sign_in?next={next_path}")
    page.wait_for_url(re.compile(r".*/oauth/authorize\?.*"))
    page.get_by_label(re.compile("Email address or username|Correo electrónico o nombre de usuario")).fill(
        person.username
    )
    page.get_by_label(re.compile("^(Password|Contraseña)$")).fill(person.password)
    page.get_by_role("button", name=re.compile("^(Authorize|Sign in|Autorizar|Iniciar sesión)$")).click()
    page.wait_for_url(f"{base}{next_path}")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical accessibility violations of the page, by axe-core (WCAG 2.x A and AA
    rules and best practices)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


@dataclass
class Browser:
    playwright: Any
    browser: Any

    def context(self, **options: Any) -> Any:
        context = self.browser.new_context(**{**DESKTOP, **options})
        context.set_default_timeout(15_000)
        return context


def browser_session() -> Iterator[Browser]:
    playwright, browser = launch()
    try:
        yield Browser(playwright, browser)
    finally:
        browser.close()
        playwright.stop()
