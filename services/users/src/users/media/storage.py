"""Where uploaded files go: a folder (`LocalStorage`, the default, under the data folder; this
service serves it at `/system/media/`) or an S3-compatible bucket (`S3Storage`, served from the
bucket's public URL). Keys are content-addressed (`accounts/avatars/<sha256>.png`), so a file
never changes once written and every copy of it may be cached for a year."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from users.settings import Settings

CACHE_CONTROL = "public, max-age=31536000, immutable"
# What a stored key looks like; anything else is never looked up (no path tricks).
KEY = re.compile(r"^accounts/(avatars|headers)/[0-9a-f]{64}\.(png|jpg|gif|webp)$")
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


class MediaStorage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...


class LocalStorage:
    def __init__(self, root: Path):
        self.root = root

    def path(self, key: str) -> Path | None:
        """The file of `key`, if `key` is a stored key's shape and the file exists."""
        if not KEY.match(key):
            return None
        path = self.root / key
        return path if path.is_file() else None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        target = self.root / key
        if target.exists():  # same key, same content
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then renamed: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class S3Storage:
    """`acl`: the canned ACL objects get (Mastodon's `S3_PERMISSION`, `public-read`); None for a
    bucket whose policy makes it public (some stores refuse ACLs)."""

    def __init__(self, client: Any, bucket: str, acl: str | None = "public-read"):
        self.client = client
        self.bucket = bucket
        self.acl = acl

    def put(self, key: str, data: bytes, content_type: str) -> None:
        extra = {"ACL": self.acl} if self.acl else {}
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            CacheControl=CACHE_CONTROL,
            **extra,
        )


def build_storage(settings: Settings) -> tuple[MediaStorage, str | None]:
    """The configured storage, and the public URL its files are served from (None: this service
    serves them at `PUBLIC_URL/system/media`)."""
    if settings.media_storage == "local":
        return LocalStorage(settings.media_root), None
    import boto3  # only deployments that store in a bucket load it

    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value()
        if settings.s3_secret_access_key
        else None,
    )
    assert settings.s3_bucket is not None  # the settings refuse s3 without a bucket
    return S3Storage(client, settings.s3_bucket, settings.s3_acl or None), settings.s3_public_url_or_default()
