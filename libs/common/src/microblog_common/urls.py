"""Public URLs, all built from PUBLIC_URL (the gateway's origin), shaped as Mastodon shapes them, so
every service that renders an account or a status links to the same places."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

MEDIA_PATH = "/system/media"


class PublicUrls:
    """`media_url`: where uploaded files are served from (an object store's public URL); by
    default the users service serves them at `PUBLIC_URL/system/media/`."""

    def __init__(self, public_url: str, media_url: str | None = None):
        self.base = public_url.rstrip("/")
        self.host = urlsplit(self.base).netloc.lower()
        self.media_base = (media_url or self.base + MEDIA_PATH).rstrip("/")

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

    def media(self, key: str) -> str:
        """An uploaded file (`accounts/avatars/<sha256>.png`)."""
        return f"{self.media_base}/{key}"

    def status(self, username: str, status_id: int) -> str:
        return f"{self.base}/@{username}/{status_id}"

    def status_uri(self, username: str, status_id: int) -> str:
        return f"{self.base}/users/{username}/statuses/{status_id}"

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{quote(name)}"
