"""Public URLs, all built from PUBLIC_URL (the gateway's origin), as Mastodon shapes them."""

from __future__ import annotations

from urllib.parse import quote, urlsplit


class Urls:
    def __init__(self, public_url: str):
        self.base = public_url.rstrip("/")
        self.host = urlsplit(self.base).netloc.lower()

    def __call__(self, path: str) -> str:
        return self.base + path

    def profile(self, username: str) -> str:
        return f"{self.base}/@{username}"

    def actor(self, username: str) -> str:
        return f"{self.base}/users/{username}"

    def status(self, username: str, status_id: int) -> str:
        return f"{self.base}/@{username}/{status_id}"

    def status_uri(self, username: str, status_id: int) -> str:
        return f"{self.base}/users/{username}/statuses/{status_id}"

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{quote(name)}"
