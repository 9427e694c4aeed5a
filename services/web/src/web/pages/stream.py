"""Live updates for the browser without giving it the token: `GET /stream` (Server-Sent Events,
authenticated by the session cookie) opens the person's own stream at the API
(`/api/v1/streaming/user`, and `/public/local` on the public timeline) with the session's token
and passes on what the page needs to know: that a post arrived in a timeline (the page offers
"n new posts"), that a notification came (the badge counts up), that a post was deleted.

Only ids and kinds cross: the browser fetches anything it shows as server-rendered HTML. When
the API ends the stream (the token was revoked, a redeploy), this one ends too and the browser
reconnects after `retry`; a session whose token is refused gets 401 and ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse

from web.api.client import ApiUnavailable, SignedOut
from web.page import SESSION_COOKIE, PageDep

log = structlog.get_logger(__name__)
router = APIRouter()

KEEPALIVE_SECONDS = 15.0
RECONNECT_MILLISECONDS = 5000
QUEUE_SIZE = 100
CHANNELS = {"home": "/api/v1/streaming/user", "public": "/api/v1/streaming/public/local"}


def _translate(channel: str, event: str, data: str) -> tuple[str, dict[str, Any]] | None:
    """An API event as the page's event: `update` (in which timeline), `notification`, `delete`."""
    if event == "delete":
        return "delete", {"id": data.strip()}
    try:
        payload = json.loads(data)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    if event == "update":
        return "update", {"id": payload.get("id"), "timeline": channel}
    if event == "status.update":
        return "edit", {"id": payload.get("id")}
    if event == "notification" and channel == "home":
        return "notification", {"id": payload.get("id"), "type": payload.get("type")}
    return None


async def _relay(
    channel: str, response: httpx.Response, queue: asyncio.Queue[tuple[str, dict[str, Any]]]
) -> None:
    event, data = "", []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue  # the API's heartbeat; this stream sends its own
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line == "":
            translated = _translate(channel, event, "\n".join(data)) if event else None
            event, data = "", []
            if translated is not None:
                with contextlib.suppress(asyncio.QueueFull):  # a page that stopped reading misses some
                    queue.put_nowait(translated)


@router.get("/stream")
async def stream(page: PageDep, timeline: str = "") -> Response:
    viewer = page.viewer
    if viewer is None:
        return JSONResponse({"error": "Not signed in"}, status_code=401)
    channels = ["home", *(["public"] if timeline == "public" else [])]
    upstreams = contextlib.AsyncExitStack()
    try:
        responses = {
            name: await upstreams.enter_async_context(
                page.runtime.api.stream(CHANNELS[name], token=viewer.token)
            )
            for name in channels
        }
    except SignedOut:
        await upstreams.aclose()
        await page.runtime.sessions.end(page.db, viewer.session_id)
        response = JSONResponse({"error": "Signed out"}, status_code=401)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    except ApiUnavailable:
        await upstreams.aclose()
        return JSONResponse({"error": "Live updates are unavailable"}, status_code=503)

    async def events() -> AsyncIterator[str]:
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        relays = [
            asyncio.ensure_future(_relay(name, response, queue)) for name, response in responses.items()
        ]
        try:
            yield f"retry: {RECONNECT_MILLISECONDS}\n: connected\n\n"
            while not any(task.done() for task in relays):
                try:
                    kind, payload = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: {kind}\ndata: {json.dumps(payload)}\n\n"
        except (httpx.HTTPError, ApiUnavailable) as exc:
            log.info("stream_upstream_ended", error=repr(exc))
        finally:
            for task in relays:
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)
            await upstreams.aclose()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
