"""A service that is down, slow or broken becomes a clean JSON error, never a 500 or HTML."""

import httpx
import pytest

from .conftest import dead_tcp_url


async def test_a_dead_service_is_503(gateway, upstreams):
    async with gateway(urls={**upstreams.tcp, "posts": dead_tcp_url()}) as client:
        response = await client.get("/api/v1/timelines/public")
        others = await client.get("/api/v1/accounts/1")
    assert response.status_code == 503
    assert response.json() == {"error": "The posts service is unavailable"}
    assert others.status_code == 200  # one service down doesn't take the rest with it


async def test_a_page_of_a_dead_web_ui_says_so_in_words_to_a_browser(gateway, upstreams):
    async with gateway(urls={**upstreams.tcp, "web": dead_tcp_url()}) as client:
        page = await client.get("/@alice", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        data = await client.get("/@alice", headers={"Accept": "application/json"})
        api = await client.get("/api/v1/accounts/1", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["retry-after"] == "30"
    assert "The site is unavailable right now" in page.text
    assert "The web service is unavailable" in page.text
    assert data.status_code == 503 and data.json() == {"error": "The web service is unavailable"}
    assert api.status_code == 200  # the API doesn't depend on the web UI


async def test_a_missing_unix_socket_is_503(gateway, upstreams, tmp_path):
    async with gateway(urls={**upstreams.uds, "notify": f"unix:{tmp_path / 'gone.sock'}"}) as client:
        response = await client.get("/api/v1/notifications")
    assert response.status_code == 503
    assert response.json() == {"error": "The notify service is unavailable"}


@pytest.mark.parametrize("transport", ["tcp", "uds"])
async def test_a_slow_service_is_504(gateway, upstreams, transport):
    async with gateway(urls=getattr(upstreams, transport), upstream_timeout_seconds=0.3) as client:
        response = await client.get("/api/v1/statuses/1?mode=slow&seconds=3")
    assert response.status_code == 504
    assert response.json() == {"error": "The posts service did not answer in time"}


async def test_a_service_speaking_garbage_is_502(gateway, upstreams):
    async with gateway(urls={**upstreams.tcp, "search": upstreams.broken_url}) as client:
        response = await client.get("/api/v2/search?q=hello")
    assert response.status_code == 502
    assert response.json() == {"error": "The search service sent an invalid response"}
    assert response.headers["content-type"] == "application/json"


async def test_a_service_failing_mid_response_cuts_the_connection(served_gateway, upstreams):
    """Once the status line is out nothing else is honest: the client sees a cut-off response
    (and the gateway keeps serving)."""
    origin = served_gateway(upstreams.tcp)
    async with httpx.AsyncClient(timeout=10) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{origin}/api/v1/statuses/1?mode=break")
        assert (await client.get(f"{origin}/api/v1/statuses/1")).status_code == 200
