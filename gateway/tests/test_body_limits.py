"""Body limits at the edge: a body announced too large is refused before it is read (the service
never sees the request), a streamed one is cut as soon as it goes over, JSON nested too deeply is
refused while it streams; uploads (multipart) have their own, larger limit."""

from __future__ import annotations

import json

LIMITS = {"max_body_bytes": 4096, "max_upload_body_bytes": 16384, "max_json_depth": 8}


async def test_an_announced_body_over_the_limit_is_413_before_anything_is_read(gateway, upstreams):
    gate = upstreams.control.gate("announced")
    async with gateway(**LIMITS) as client:
        r = await client.post(
            "/api/v1/statuses?mode=upload&gate=announced",
            content=b"x" * 5000,
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 413
    assert r.json() == {"error": "The request body is too large (at most 4096 bytes)"}
    assert r.headers["x-request-id"] and r.headers["x-ratelimit-limit"]
    assert not gate.is_set()  # the service never saw a byte


async def test_a_streamed_body_is_cut_as_soon_as_it_goes_over(gateway):
    produced = []

    async def endless():
        for _ in range(10_000):
            produced.append(1)
            yield b"a" * 1000

    async with gateway(**LIMITS) as client:
        r = await client.post(
            "/api/v1/statuses?mode=upload&gate=streamed",
            content=endless(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 413 and r.json()["error"].startswith("The request body is too large")
    assert len(produced) < 100  # cut there, not read to the end


async def test_uploads_have_their_own_limit(gateway):
    async with gateway(**LIMITS) as client:
        ok = await client.post("/api/v1/statuses", files={"avatar": ("a.png", b"0" * 10_000)})
        over = await client.post("/api/v1/statuses", files={"avatar": ("a.png", b"0" * 20_000)})
        form_over = await client.post("/api/v1/statuses", data={"note": "0" * 10_000})
    assert ok.status_code == 200 and over.status_code == 413 and form_over.status_code == 413


async def test_json_nested_too_deeply_is_refused_while_it_streams(gateway):
    deep = b'{"note": ' + b"[" * 5000 + b"]" * 5000 + b"}"

    async def chunks():
        for start in range(0, len(deep), 100):
            yield deep[start : start + 100]

    async with gateway(**LIMITS) as client:
        announced = await client.post(
            "/api/v1/statuses", content=deep[:4000], headers={"content-type": "application/json"}
        )
        streamed = await client.post(
            "/api/v1/accounts/update_credentials",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        shallow = await client.post(
            "/api/v1/statuses",
            content=json.dumps({"a": [[["[[[[ in a string"]]]}),
            headers={"content-type": "application/json"},
        )
    for r in (announced, streamed):
        assert r.status_code == 400, r.text
        assert r.json() == {"error": "The request body is nested too deeply (at most 8 levels)"}
    assert shallow.status_code == 200
