"""The instance entities: every field of Mastodon 4.3's V1::Instance and Instance."""

from .conftest import dead_tcp_url

V1_FIELDS = {
    "uri",
    "title",
    "short_description",
    "description",
    "email",
    "version",
    "urls",
    "stats",
    "thumbnail",
    "languages",
    "registrations",
    "approval_required",
    "invites_enabled",
    "configuration",
    "contact_account",
    "rules",
}
V2_FIELDS = {
    "domain",
    "title",
    "version",
    "source_url",
    "description",
    "usage",
    "thumbnail",
    "icon",
    "languages",
    "configuration",
    "registrations",
    "api_versions",
    "contact",
    "rules",
}
LIMITS = {
    "statuses": {"max_characters", "max_media_attachments", "characters_reserved_per_url"},
    "media_attachments": {
        "supported_mime_types",
        "image_size_limit",
        "image_matrix_limit",
        "video_size_limit",
        "video_frame_rate_limit",
        "video_matrix_limit",
    },
    "polls": {"max_options", "max_characters_per_option", "min_expiration", "max_expiration"},
}
VERSION = "4.3.0 (compatible; Microblog 0.1.0)"


async def test_v1_instance(gateway):
    async with gateway() as client:
        response = await client.get("/api/v1/instance")
    body = response.json()
    assert response.status_code == 200
    assert set(body) == V1_FIELDS
    assert body["version"] == VERSION
    assert body["uri"] == "gateway.test"
    assert body["urls"] == {"streaming_api": "ws://gateway.test"}
    # The users service's counts.
    assert body["stats"] == {"user_count": 3, "status_count": 12, "domain_count": 0}
    assert body["configuration"]["statuses"]["max_characters"] == 500
    for group, fields in LIMITS.items():
        assert set(body["configuration"][group]) == fields
    assert body["thumbnail"] == "http://gateway.test/instance/thumbnail.png"
    assert (body["contact_account"], body["rules"], body["languages"]) == (None, [], ["en"])


async def test_v2_instance(gateway):
    async with gateway() as client:
        response = await client.get("/api/v2/instance")
    body = response.json()
    assert set(body) == V2_FIELDS
    assert body["version"] == VERSION
    assert body["domain"] == "gateway.test"
    config = body["configuration"]
    assert set(config) == {
        "urls",
        "vapid",
        "accounts",
        "statuses",
        "media_attachments",
        "polls",
        "translation",
    }
    assert config["urls"]["streaming"] == "ws://gateway.test"
    assert config["translation"] == {"enabled": True}
    assert config["statuses"]["max_characters"] == 500
    for group, fields in LIMITS.items():
        assert set(config[group]) == fields
    assert set(body["registrations"]) == {"enabled", "approval_required", "message", "url"}
    assert body["api_versions"] == {"mastodon": 2}
    assert body["usage"] == {"users": {"active_month": 2}}
    assert set(body["contact"]) == {"email", "account"}
    assert body["thumbnail"]["url"] == "http://gateway.test/instance/thumbnail.png"


async def test_public_url_sets_domain_and_secure_streaming(gateway):
    async with gateway(public_url="https://microblog.example/") as client:
        v1 = (await client.get("/api/v1/instance")).json()
        v2 = (await client.get("/api/v2/instance")).json()
    assert v1["uri"] == v2["domain"] == "microblog.example"
    assert (
        v1["urls"]["streaming_api"] == v2["configuration"]["urls"]["streaming"] == "wss://microblog.example"
    )
    assert v2["source_url"] == "https://microblog.example/"


async def test_the_contact_email_is_null_unless_configured(gateway):
    async with gateway() as client:
        v1 = (await client.get("/api/v1/instance")).json()
        v2 = (await client.get("/api/v2/instance")).json()
    assert v1["email"] is None and v2["contact"]["email"] is None
    async with gateway(instance_contact_email="admin@microblog.example") as client:
        v1 = (await client.get("/api/v1/instance")).json()
        v2 = (await client.get("/api/v2/instance")).json()
    assert v1["email"] == v2["contact"]["email"] == "admin@microblog.example"


async def test_translation_is_on_only_when_the_translate_service_says_so(gateway, upstreams):
    """Off when no provider is configured there, and off while it can't be reached."""
    upstreams.control.translation = {"enabled": False, "provider": None}
    try:
        async with gateway() as client:
            v2 = (await client.get("/api/v2/instance")).json()
        assert v2["configuration"]["translation"] == {"enabled": False}
    finally:
        upstreams.control.translation = {"enabled": True, "provider": "microsoft"}
    async with gateway() as client:
        v2 = (await client.get("/api/v2/instance")).json()
    assert v2["configuration"]["translation"] == {"enabled": True}
    down = {**upstreams.tcp, "translate": dead_tcp_url(), "users": dead_tcp_url()}
    async with gateway(urls=down) as client:
        v1 = (await client.get("/api/v1/instance")).json()
        v2 = (await client.get("/api/v2/instance")).json()
    assert v2["configuration"]["translation"] == {"enabled": False}
    assert v1["stats"]["user_count"] == 0  # never known: nothing is made up


async def test_the_thumbnail_is_served(gateway):
    async with gateway() as client:
        response = await client.get("/instance/thumbnail.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
