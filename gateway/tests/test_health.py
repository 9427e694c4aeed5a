"""`/health/live` answers while the process runs; `/health/ready` only while every service is."""

from gateway.upstreams import SERVICES

from .conftest import dead_tcp_url


async def test_live(gateway, upstreams):
    async with gateway(urls={name: dead_tcp_url() for name in SERVICES}) as client:
        response = await client.get("/health/live")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_ready_when_every_service_is(gateway, upstreams):
    async with gateway(urls=upstreams.uds) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {name: "ok" for name in SERVICES}}


async def test_not_ready_lists_which_service_is_not(gateway, upstreams):
    upstreams.control.unready.add("search")
    try:
        async with gateway(urls={**upstreams.tcp, "translate": dead_tcp_url()}) as client:
            response = await client.get("/health/ready")
    finally:
        upstreams.control.unready.discard("search")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    ok = {name for name, state in body["checks"].items() if state == "ok"}
    assert ok == {"users", "posts", "notify", "web"}
    assert "answered 503" in body["checks"]["search"]
    assert "unreachable" in body["checks"]["translate"]
