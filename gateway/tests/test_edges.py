"""What every answer carries and where clients come from: request ids, CORS, client addresses."""

import httpx

from gateway.app import create_app

from .conftest import asgi_client, gateway_settings


async def test_every_answer_has_a_request_id_of_the_gateways_choosing(gateway):
    async with gateway() as client:
        proxied = await client.get("/api/v1/timelines/public", headers={"X-Request-Id": "client-chosen"})
        missing = await client.get("/api/v1/missing")
        own = await client.get("/api/v1/instance")
    ids = [r.headers["x-request-id"] for r in (proxied, missing, own)]
    assert "client-chosen" not in ids and len(set(ids)) == 3
    seen = proxied.json()["headers"]
    # The service works under the gateway's id (and the correlation id defaults to it).
    assert seen["x-request-id"] == proxied.headers["x-request-id"]
    assert seen["x-correlation-id"] == proxied.headers["x-request-id"]


async def test_a_client_correlation_id_is_carried_to_the_service(gateway):
    async with gateway() as client:
        seen = (
            await client.get("/api/v1/timelines/public", headers={"X-Correlation-Id": "ui-session-1"})
        ).json()
    assert seen["headers"]["x-correlation-id"] == "ui-session-1"


async def test_cors_preflight_and_exposed_headers(gateway):
    preflight_headers = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }
    async with gateway() as client:
        preflight = await client.options("/api/v1/statuses", headers=preflight_headers)
        actual = await client.get("/api/v1/timelines/public", headers={"Origin": "https://app.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    assert preflight.headers["x-request-id"]
    assert actual.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip().lower() for h in actual.headers["access-control-expose-headers"].split(",")}
    assert {"link", "x-ratelimit-remaining", "x-request-id"} <= exposed


async def test_cors_can_be_restricted_to_listed_origins(gateway):
    async with gateway(cors_origins="https://ui.example") as client:
        allowed = await client.get("/api/v1/instance", headers={"Origin": "https://ui.example"})
        other = await client.get("/api/v1/instance", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
    assert "access-control-allow-origin" not in other.headers


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(gateway):
    async with gateway(client_ip="198.51.100.7") as client:
        seen = (await client.get("/api/v1/timelines/public", headers={"X-Forwarded-For": "1.2.3.4"})).json()
    assert seen["headers"]["x-client-ip"] == "198.51.100.7"
    assert seen["headers"]["x-forwarded-for"] == "198.51.100.7"


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(upstreams):
    settings = gateway_settings(upstreams.tcp, trusted_proxies="10.0.0.0/8", rate_limit_default="1/minute")
    app = create_app(settings)
    headers = {"X-Forwarded-For": "203.0.113.9, 10.1.1.1", "X-Forwarded-Proto": "https"}
    async with app.router.lifespan_context(app), asgi_client(app, "10.0.0.5") as via_proxy:
        seen = (await via_proxy.get("/api/v1/timelines/public", headers=headers)).json()
        instance = (await via_proxy.get("/api/v1/instance", headers={"X-Forwarded-Proto": "https"})).json()
        # Another client behind the same proxy has its own quota.
        other = await via_proxy.get("/api/v1/timelines/public", headers={"X-Forwarded-For": "203.0.113.10"})
        again = await via_proxy.get("/api/v1/timelines/public", headers=headers)
    assert seen["headers"]["x-client-ip"] == "203.0.113.9"
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert instance["urls"]["streaming_api"].startswith("wss://")
    assert other.status_code == 200
    assert again.status_code == 429


async def test_no_io_before_the_lifespan(upstreams):
    """create_app only wires things up; the pooled client exists only while the app runs."""
    app = create_app(gateway_settings(upstreams.tcp))
    assert not hasattr(app.state, "http_client")
    async with app.router.lifespan_context(app):
        client = app.state.http_client
        assert isinstance(client, httpx.AsyncClient) and not client.is_closed
    assert client.is_closed
