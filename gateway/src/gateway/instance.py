"""`GET /api/v1/instance` and `GET /api/v2/instance`: Mastodon 4.3's V1::Instance and Instance
entities, every field present.

The version says 4.3.0 on purpose: Mastodon.py refuses the password grant for servers claiming
4.4.0 or later. The counts and whether translation is on come from the services (`facts.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, lru_cache
from importlib.metadata import version as package_version
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from gateway.facts import InstanceFacts
from gateway.settings import Settings

MASTODON_API_VERSION = "4.3.0"
# Mastodon 4.3.0's machine-readable API version (Instance.api_versions, added in 4.3.0).
MASTODON_API_LEVEL = 2
THUMBNAIL_PATH = "/instance/thumbnail.png"


@cache
def _thumbnail_png() -> bytes:
    return files("gateway").joinpath("static/thumbnail.png").read_bytes()


@cache
def software_version() -> str:
    return f"{MASTODON_API_VERSION} (compatible; Microblog {package_version('microblog-gateway')})"


def public_origin(settings: Settings, request: Request) -> str:
    """PUBLIC_URL, or without it the request's scheme and Host header."""
    if settings.public_url:
        return settings.public_url
    return f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"


class InstanceInfo:
    """What the instance entities say, from settings, the services' facts and the public origin."""

    def __init__(self, settings: Settings, origin: str, facts: InstanceFacts):
        self.settings = settings
        self.facts = facts
        self.origin = origin.rstrip("/")
        self.domain = urlsplit(self.origin).netloc
        if settings.streaming_url:
            self.streaming = settings.streaming_url
        else:
            self.streaming = ("wss" if self.origin.startswith("https:") else "ws") + "://" + self.domain

    @property
    def thumbnail(self) -> str:
        return self.origin + THUMBNAIL_PATH

    @property
    def source_url(self) -> str:
        return self.settings.source_url or self.origin + "/"

    def statuses(self) -> dict[str, int]:
        return {
            "max_characters": self.settings.max_status_characters,
            # Media uploads are not supported (yet): no attachments, no accepted types.
            "max_media_attachments": 0,
            "characters_reserved_per_url": 23,
        }

    def media_attachments(self) -> dict[str, Any]:
        return {
            "supported_mime_types": [],
            "image_size_limit": 0,
            "image_matrix_limit": 0,
            "video_size_limit": 0,
            "video_frame_rate_limit": 0,
            "video_matrix_limit": 0,
        }

    def polls(self) -> dict[str, int]:
        # Mastodon's defaults; statuses with polls are not supported (yet).
        return {
            "max_options": 4,
            "max_characters_per_option": 50,
            "min_expiration": 300,
            "max_expiration": 2629746,
        }

    def v1(self) -> dict[str, Any]:
        s = self.settings
        return {
            "uri": self.domain,
            "title": s.instance_title,
            "short_description": s.instance_description,
            "description": s.instance_description,
            "email": s.instance_contact_email,
            "version": software_version(),
            "urls": {"streaming_api": self.streaming},
            "stats": {
                "user_count": self.facts.user_count,
                "status_count": self.facts.status_count,
                "domain_count": 0,
            },
            "thumbnail": self.thumbnail,
            "languages": list(s.instance_languages),
            "registrations": s.registrations_enabled,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": {
                "accounts": {"max_featured_tags": 0},
                "statuses": self.statuses(),
                "media_attachments": self.media_attachments(),
                "polls": self.polls(),
            },
            "contact_account": None,
            "rules": [],
        }

    def v2(self) -> dict[str, Any]:
        s = self.settings
        return {
            "domain": self.domain,
            "title": s.instance_title,
            "version": software_version(),
            "source_url": self.source_url,
            "description": s.instance_description,
            "usage": {"users": {"active_month": self.facts.active_month}},
            "thumbnail": {"url": self.thumbnail, "blurhash": None, "versions": {}},
            "icon": [],
            "languages": list(s.instance_languages),
            "configuration": {
                "urls": {"streaming": self.streaming, "status": None},
                # Web Push is not supported: there is no VAPID key to give.
                "vapid": {"public_key": ""},
                "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
                "statuses": self.statuses(),
                "media_attachments": self.media_attachments(),
                "polls": self.polls(),
                "translation": {"enabled": self.facts.translation_enabled},
            },
            "registrations": {
                "enabled": s.registrations_enabled,
                "approval_required": False,
                "message": None,
                "url": None,
            },
            "api_versions": {"mastodon": MASTODON_API_LEVEL},
            "contact": {"email": s.instance_contact_email, "account": None},
            "rules": [],
        }


# What the two entities look like, for the OpenAPI document (the JSON itself is `InstanceInfo`'s).
class InstanceV1(BaseModel):
    """Mastodon's V1::Instance."""

    uri: str
    title: str
    short_description: str
    description: str
    email: str | None
    version: str
    urls: dict[str, str]
    stats: dict[str, int]
    thumbnail: str | None
    languages: list[str]
    registrations: bool
    approval_required: bool
    invites_enabled: bool
    configuration: dict[str, Any]
    contact_account: dict[str, Any] | None
    rules: list[dict[str, Any]]


class InstanceContact(BaseModel):
    email: str | None
    account: dict[str, Any] | None


class InstanceV2(BaseModel):
    """Mastodon's Instance."""

    domain: str
    title: str
    version: str
    source_url: str
    description: str
    usage: dict[str, Any]
    thumbnail: dict[str, Any]
    icon: list[dict[str, Any]]
    languages: list[str]
    configuration: dict[str, Any]
    registrations: dict[str, Any]
    api_versions: dict[str, int]
    contact: InstanceContact
    rules: list[dict[str, Any]]


def instance_router(settings: Settings, facts: Callable[[], InstanceFacts]) -> APIRouter:
    """Clients fetch these often (every app at start-up) and they only change with the origin and
    the facts, so each is rendered once per origin and facts. Bounded: the Host header is the
    client's to choose."""
    router = APIRouter()

    @lru_cache(maxsize=64)
    def rendered(version: int, origin: str, known: InstanceFacts) -> bytes:
        info = InstanceInfo(settings, origin, known)
        entity = info.v1() if version == 1 else info.v2()
        return json.dumps(entity, ensure_ascii=False, separators=(",", ":")).encode()

    @router.get("/api/v1/instance", response_model=InstanceV1)
    async def instance_v1(request: Request) -> Response:
        body = rendered(1, public_origin(settings, request), facts())
        return Response(body, media_type="application/json")

    @router.get("/api/v2/instance", response_model=InstanceV2)
    async def instance_v2(request: Request) -> Response:
        body = rendered(2, public_origin(settings, request), facts())
        return Response(body, media_type="application/json")

    @router.get(THUMBNAIL_PATH, include_in_schema=False)
    async def instance_thumbnail() -> Response:
        return Response(
            _thumbnail_png(), media_type="image/png", headers={"cache-control": "public, max-age=86400"}
        )

    return router
