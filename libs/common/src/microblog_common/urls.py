"""Public URLs, all built from PUBLIC_URL (the gateway's origin), shaped as Mastodon shapes them, so
every service that renders an account or a status links to the same places."""

from __future__ import annotations

from urllib.parse import quote, urlsplit


class PublicUrls:
    def __init__(self, public_url: str):
        self.base = public_url.rstrip("/")
        self.host = urlsplit(self.base).netloc.lower()

    def __call__(self, path: str) -> str:
        return self.base + path

    def profile(self, username: str) -> str:
        return f"{self.base}/@{username}"

    def actor(self, username: str) -> str:
        return f"{self.base}/users/{username}"

    def avatar(self, account_id: int) -> str:
        return f"{self.base}/avatars/{account_id}.png"

    def header(self) -> str:
        return f"{self.base}/avatars/header.png"

    def status(self, username: str, status_id: int) -> str:
        return f"{self.base}/@{username}/{status_id}"

    def status_uri(self, username: str, status_id: int) -> str:
        return f"{self.base}/users/{username}/statuses/{status_id}"

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{quote(name)}"
