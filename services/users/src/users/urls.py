"""Public URLs, all built from PUBLIC_URL (the gateway's origin)."""

from __future__ import annotations

from urllib.parse import urlsplit


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

    def avatar(self, account_id: int) -> str:
        return f"{self.base}/avatars/{account_id}.svg"

    def header(self) -> str:
        return f"{self.base}/avatars/header.svg"
