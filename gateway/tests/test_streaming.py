"""Streaming through a real gateway server: Server-Sent Events arrive event by event, request
bodies reach the service while the client is still sending, and WebSocket messages cross both
ways; over TCP and over unix domain sockets alike."""

import asyncio
import json
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from microblog_common.internal_auth import verify_request

from .conftest import ALICE, ALICE_TOKEN, SECRET, TokenTable, dead_tcp_url

pytestmark = pytest.mark.timeout(30)
TRANSPORTS = ["tcp", "uds"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_server_sent_events_arrive_one_by_one(served_gateway, upstreams, transport):
    origin = served_gateway(getattr(upstreams, transport), upstream_timeout_seconds=2)
    gate_name = uuid.uuid4().hex
    gate = upstreams.control.gate(gate_name)
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", f"{origin}/api/v1/streaming/public?mode=sse&gate={gate_name}") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "x-ratelimit-remaining" in response.headers and response.headers["x-request-id"]
        lines = response.aiter_lines()
        first = [await anext(lines) for _ in range(3)]
        # The service holds the rest back until it is told the first event got through, so the
        # first event crossed the gateway before the stream ended.
        assert first == ["event: update", "data: first", ""]
        assert not gate.is_set()
        gate.set()
        rest = [line async for line in lines]
    assert rest == [
        "event: update",
        "data: second",
        "",
        ": keep-alive comment",
        "",
        "event: delete",
        "data: third",
        "",
    ]


async def test_a_quiet_stream_outlives_the_read_timeout(served_gateway, upstreams):
    """Streams have no read timeout: events may be minutes apart."""
    origin = served_gateway(upstreams.tcp, upstream_timeout_seconds=0.5)
    gate_name = uuid.uuid4().hex
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", f"{origin}/api/v1/streaming/user?mode=sse&gate={gate_name}") as response,
    ):
        lines = response.aiter_lines()
        assert await anext(lines) == "event: update"
        await asyncio.sleep(1.2)
        upstreams.control.gate(gate_name).set()
        rest = [line async for line in lines]
    assert "data: third" in rest


async def test_a_client_leaving_a_stream_ends_it_at_the_service(served_gateway, upstreams):
    """No stream is left running upstream for a client that is gone."""
    origin = served_gateway(upstreams.tcp)
    gate_name = uuid.uuid4().hex
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", f"{origin}/api/v1/streaming/user?mode=sse&gate={gate_name}&hold=60") as response,
    ):
        assert await anext(response.aiter_lines()) == "event: update"
    ended = upstreams.control.gate(gate_name + ":ended")
    assert await asyncio.to_thread(ended.wait, 10)
    assert not upstreams.control.gate(gate_name).is_set()  # ended by the disconnect, not the gate


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_request_bodies_stream_to_the_service(served_gateway, upstreams, transport):
    origin = served_gateway(getattr(upstreams, transport))
    gate_name = uuid.uuid4().hex
    gate = upstreams.control.gate(gate_name)
    chunk = b"x" * 65536

    async def body():
        yield chunk
        # Sent on only once the service has the first chunk: a gateway that waited for the whole
        # body would wait forever here.
        assert await asyncio.to_thread(gate.wait, 10), "the first chunk never reached the service"
        for _ in range(15):
            yield chunk

    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(f"{origin}/api/v1/statuses?mode=upload&gate={gate_name}", content=body())
    assert response.status_code == 200
    assert response.json() == {"service": "posts", "bytes": 16 * 65536}


async def test_a_large_body_with_a_length_passes_whole(served_gateway, upstreams):
    # Within a limit raised for the test (the limits themselves: test_body_limits.py).
    origin = served_gateway(upstreams.tcp, max_body_bytes=16 * 1024 * 1024)
    payload = bytes(range(256)) * 40000  # 10 MB
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.put(
            f"{origin}/api/v1/statuses/1?mode=upload&gate={uuid.uuid4().hex}", content=payload
        )
    assert response.json() == {"service": "posts", "bytes": len(payload)}


@pytest.mark.parametrize("size", [256, 4 * 1024 * 1024])
async def test_answers_small_and_large_come_back_whole(served_gateway, upstreams, size):
    """Small answers are relayed in one piece, large ones as they arrive: both arrive intact."""
    origin = served_gateway(upstreams.tcp)
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.get(f"{origin}/api/v1/statuses/1?mode=big&bytes={size}")
        head = await client.head(f"{origin}/api/v1/statuses/1?mode=big&bytes={size}")
    assert response.status_code == 200
    assert response.content == bytes(range(256)) * (size // 256)
    assert response.headers["content-length"] == str(size)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(size)


def ws_url(origin: str, query: str = "stream=user") -> str:
    return origin.replace("http://", "ws://") + "/api/v1/streaming?" + query


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_websocket_messages_cross_both_ways(served_gateway, upstreams, transport):
    origin = served_gateway(getattr(upstreams, transport), authenticator=TokenTable({ALICE_TOKEN: ALICE}))
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}", "X-User-Id": "1", "X-Internal-Signature": "forged"}
    async with connect(ws_url(origin), additional_headers=headers) as ws:
        assert ws.response.headers["x-request-id"]
        assert "x-ratelimit-remaining" in ws.response.headers
        hello = json.loads(await ws.recv())
        assert hello["service"] == "notify" and hello["path"] == "/api/v1/streaming"
        assert hello["query"] == "stream=user"
        assert hello["identity"] == {"user_id": 42, "scopes": ["read", "write"], "token_id": "tok-1"}
        assert "authorization" not in hello["headers"]
        assert hello["headers"]["x-request-id"] == ws.response.headers["x-request-id"]
        assert verify_request(SECRET, "GET", "/api/v1/streaming?stream=user", hello["headers"], max_age=60)
        await ws.send(json.dumps({"type": "subscribe", "stream": "public"}))
        assert await ws.recv() == 'echo:{"type": "subscribe", "stream": "public"}'
        await ws.send(b"\x00\x01binary")
        assert await ws.recv() == b"echo:\x00\x01binary"
        await ws.send("close")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    # The service's close code and reason travel through.
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")


async def test_websocket_token_in_the_query_or_the_subprotocol(served_gateway, upstreams):
    origin = served_gateway(upstreams.tcp, authenticator=TokenTable({ALICE_TOKEN: ALICE}))
    async with connect(ws_url(origin, f"stream=user&access_token={ALICE_TOKEN}")) as ws:
        hello = json.loads(await ws.recv())
    assert hello["identity"]["user_id"] == 42 and hello["query"] == "stream=user"
    async with connect(ws_url(origin), subprotocols=[ALICE_TOKEN]) as ws:
        hello = json.loads(await ws.recv())
        assert ws.subprotocol == ALICE_TOKEN  # browsers require the offered protocol back
    assert hello["identity"]["user_id"] == 42
    assert "sec-websocket-protocol" not in hello["headers"]


async def test_websocket_with_an_invalid_token_is_refused_with_401(served_gateway, upstreams):
    origin = served_gateway(upstreams.tcp)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(origin), additional_headers={"Authorization": "Bearer nope"}):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body) == {"error": "The access token is invalid"}


async def test_websocket_to_a_dead_service_is_503(served_gateway, upstreams):
    origin = served_gateway({**upstreams.tcp, "notify": dead_tcp_url()})
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(origin)):
            pass
    assert refused.value.response.status_code == 503
    assert json.loads(refused.value.response.body) == {"error": "The notify service is unavailable"}


async def test_websocket_handshakes_are_rate_limited(served_gateway, upstreams):
    origin = served_gateway(upstreams.tcp, rate_limit_default="1/minute")
    async with connect(ws_url(origin)) as ws:
        await ws.recv()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(origin)):
            pass
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["x-ratelimit-remaining"] == "0"


async def test_client_disconnect_closes_the_service_side(served_gateway, upstreams):
    origin = served_gateway(upstreams.tcp)
    async with connect(ws_url(origin)) as ws:
        await ws.recv()
        await ws.close(code=1000)
    # The gateway stays healthy for the next connection.
    async with connect(ws_url(origin)) as ws:
        assert json.loads(await ws.recv())["hello"] is True


async def test_revoking_the_token_ends_its_event_stream_at_once(served_gateway, upstreams):
    table = TokenTable({ALICE_TOKEN: ALICE})
    origin = served_gateway(upstreams.tcp, authenticator=table)
    gate_name = uuid.uuid4().hex
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    url = f"{origin}/api/v1/streaming/user?mode=sse&gate={gate_name}&hold=60"
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        lines = response.aiter_lines()
        assert await anext(lines) == "event: update"
        table.revoke(ALICE_TOKEN)
        rest = await asyncio.wait_for(_drain(lines), timeout=3)  # ends, though the service holds on
    assert "data: second" not in rest
    assert await asyncio.to_thread(upstreams.control.gate(gate_name + ":ended").wait, 10)


async def _drain(lines) -> list[str]:
    return [line async for line in lines]


async def test_revoking_the_token_closes_its_websocket(served_gateway, upstreams):
    table = TokenTable({ALICE_TOKEN: ALICE})
    origin = served_gateway(upstreams.tcp, authenticator=table)
    async with connect(ws_url(origin), additional_headers={"Authorization": f"Bearer {ALICE_TOKEN}"}) as ws:
        assert json.loads(await ws.recv())["hello"] is True
        upstreams.servers.loop.call_soon_threadsafe(table.revoke, ALICE_TOKEN)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
