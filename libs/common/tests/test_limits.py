"""Body limits and JSON depth, as every service enforces them (`BodyLimitMiddleware`, added by
`create_service_app`), and the byte scanner the gateway shares."""

import json

import httpx
import pytest
from fastapi import FastAPI, Request

from microblog_common.errors import install_error_handlers
from microblog_common.limits import BodyLimitMiddleware, JsonDepthScanner, JsonTooDeep, check_json_depth
from microblog_common.params import request_params


def _nested(depth: int) -> bytes:
    return b'{"note": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize("depth", [1, 5, 32])
def test_nesting_up_to_the_limit_passes(depth):
    check_json_depth(_nested(depth), 32)


def test_nesting_beyond_the_limit_is_refused_even_when_split_anywhere():
    data = _nested(33)
    for cut in range(0, len(data), 7):
        scanner = JsonDepthScanner(32)
        with pytest.raises(JsonTooDeep):
            scanner.feed(data[:cut])
            scanner.feed(data[cut:])


def test_brackets_inside_strings_and_escapes_do_not_count():
    text = json.dumps({"note": "[[[[{{{{" * 100 + '\\"[[[' + "\\\\", "x": ["]]]]"]}).encode()
    for cut in range(len(text)):
        scanner = JsonDepthScanner(3)
        scanner.feed(text[:cut])
        scanner.feed(text[cut:])
        assert scanner.depth == 0 and not scanner.in_string


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        params = await request_params(request)
        return {"keys": sorted(params), "files": [k for k, v in params.items() if hasattr(v, "read")]}

    app.add_middleware(BodyLimitMiddleware, max_body_bytes=2048, max_upload_body_bytes=8192, max_json_depth=8)
    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_an_announced_body_over_the_limit_is_413_unread(client):
    r = await client.post("/echo", content=b"x" * 3000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json() == {
        "error": "The request body is too large (at most 2048 bytes)"
    }


async def test_a_streamed_body_is_cut_once_over_the_limit(client):
    sent = []

    async def chunks():
        for _ in range(100):
            sent.append(1)
            yield b"a=" + b"x" * 500 + b"&"

    r = await client.post(
        "/echo", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413
    assert len(sent) < 100  # cut, not read to the end


async def test_uploads_have_their_own_larger_limit(client):
    files = {"avatar": ("a.png", b"\x89PNG" + b"0" * 5000, "image/png")}
    ok = await client.post("/echo", files=files, data={"display_name": "x"})
    assert ok.status_code == 200 and ok.json() == {"keys": ["avatar", "display_name"], "files": ["avatar"]}
    files = {"avatar": ("a.png", b"0" * 9000, "image/png")}
    assert (await client.post("/echo", files=files)).status_code == 413


async def test_deep_json_is_a_400_not_a_recursion_error(client):
    r = await client.post("/echo", content=_nested(5000)[:2000], headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"error": "The request body is nested too deeply (at most 8 levels)"}


async def test_request_params_refuses_deep_json_even_without_the_middleware():
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return await request_params(request)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        deep = await client.post("/echo", content=_nested(100), headers={"content-type": "application/json"})
        broken = await client.post(
            "/echo",
            content=b"--x\r\nnot multipart",
            headers={"content-type": "multipart/form-data; boundary=y"},
        )
    assert deep.status_code == 400 and "nested too deeply" in deep.json()["error"]
    assert broken.status_code == 400 and broken.json() == {
        "error": "The request body is not valid multipart/form-data"
    }
