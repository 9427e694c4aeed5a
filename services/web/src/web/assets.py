"""Static files (our own CSS, scripts and icon) under fingerprinted names: `app.css` is served as
`/static/app.<hash>.css` and cached for a year, so a new version is a new URL and a first load
fetches each file once. Read into memory at start-up (a few kilobytes)."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response

STATIC = Path(__file__).parent / "static"
CACHE_FOREVER = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    media_type: str
    etag: str


class Assets:
    def __init__(self, folder: Path = STATIC):
        self._by_logical: dict[str, Asset] = {}
        self._by_served: dict[str, Asset] = {}
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            served = f"{path.stem}.{digest}{path.suffix}"
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type in ("application/javascript", "image/svg+xml"):
                media_type += "; charset=utf-8"
            asset = Asset(served, body, media_type, f'"{digest}"')
            self._by_logical[path.name] = asset
            self._by_served[served] = asset

    def url(self, name: str) -> str:
        return f"/static/{self._by_logical[name].name}"

    def served(self, name: str) -> Asset | None:
        return self._by_served.get(name)


router = APIRouter()


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str, request: Request) -> Response:
    assets: Assets = request.app.state.runtime.assets
    asset = assets.served(name)
    if asset is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": CACHE_FOREVER, "ETag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
