"""Calls between services: signed as the gateway signs, over TCP and unix sockets, with the callee
down or slow turned into ServiceUnavailable."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, Request

from microblog_common.errors import ServiceUnavailable
from microblog_common.internal_auth import InternalAuthMiddleware
from microblog_common.internal_client import (
    AsyncInternalClient,
    InternalClient,
    ServiceAddress,
    validate_service_url,
)

SECRET = "internal-client-test-secret-0123456789abcdef"


def _callee() -> FastAPI:
    app = FastAPI()

    @app.get("/internal/echo/{name}")
    async def echo(name: str, request: Request) -> dict:
        return {"name": name, "q": request.query_params.get("q"), "user": request.headers.get("x-user-id")}

    @app.get("/internal/slow")
    async def slow() -> dict:
        await asyncio.sleep(2)
        return {}

    @app.get("/internal/broken")
    async def broken() -> dict:
        raise RuntimeError("boom")

    app.add_middleware(InternalAuthMiddleware, secret=SECRET)
    return app


@contextmanager
def _serving(**where: object) -> Iterator[None]:
    server = uvicorn.Server(uvicorn.Config(_callee(), log_config=None, **where))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the callee did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["tcp", "unix"])
def callee_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "tcp":
        port = _free_port()
        with _serving(host="127.0.0.1", port=port):
            yield f"http://127.0.0.1:{port}"
    else:
        path = tmp_path / "callee.sock"
        with _serving(uds=str(path)):
            yield f"unix:{path}"


def test_a_signed_call_gets_in_with_its_identity_and_query(callee_url: str) -> None:
    client = InternalClient(ServiceAddress.parse("callee", callee_url), SECRET)
    try:
        response = client.get("/internal/echo/caf%C3%A9", params={"q": "a b"}, identity={"x-user-id": "7"})
        assert response.status_code == 200, response.text
        assert response.json() == {"name": "café", "q": "a b", "user": "7"}
    finally:
        client.close()


def test_a_call_signed_with_another_secret_is_refused(callee_url: str) -> None:
    client = InternalClient(ServiceAddress.parse("callee", callee_url), "another-secret-0123456789abcdefghij")
    try:
        assert client.get("/internal/echo/x").status_code == 403
    finally:
        client.close()


def test_the_async_client_signs_the_same_way(callee_url: str) -> None:
    async def call() -> dict:
        client = AsyncInternalClient(ServiceAddress.parse("callee", callee_url), SECRET)
        try:
            return (await client.get("/internal/echo/y")).json()
        finally:
            await client.aclose()

    assert asyncio.run(call())["name"] == "y"


def test_down_slow_or_failing_callees_are_service_unavailable(callee_url: str) -> None:
    client = InternalClient(ServiceAddress.parse("callee", callee_url), SECRET, timeout=0.5)
    try:
        with pytest.raises(
            ServiceUnavailable, match=r"callee service is unavailable \(it did not answer in time\)"
        ):
            client.get("/internal/slow")
        with pytest.raises(ServiceUnavailable, match="it answered 500"):
            client.get("/internal/broken")
    finally:
        client.close()
    down = InternalClient(ServiceAddress.parse("posts", f"http://127.0.0.1:{_free_port()}"), SECRET)
    with pytest.raises(ServiceUnavailable, match=r"posts service is unavailable \(it could not be reached\)"):
        down.get("/internal/anything")
    down.close()


@pytest.mark.parametrize(
    "url", ["ftp://host", "http://host:1/path", "unix:relative.sock", "http://host?x=1", "nothing"]
)
def test_malformed_service_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        validate_service_url(url)


def test_service_urls_lose_a_trailing_slash() -> None:
    assert validate_service_url("http://users:8000/") == "http://users:8000"
    assert ServiceAddress.parse("users", "unix:/run/users.sock").base_url == "http://users.unix.invalid"
