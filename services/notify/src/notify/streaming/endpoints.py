"""Mastodon's streaming API: Server-Sent Events at `/api/v1/streaming/<channel>` and the WebSocket
at `/api/v1/streaming` (subscribe/unsubscribe messages), in the wire formats Mastodon's clients read.

The gateway verified the token (header, `access_token` query parameter, or the WebSocket
subprotocol) and signed the identity; every stream needs a user token (Mastodon 4.2+), `user`
streams `read`/`read:statuses` and `user:notification` `read`/`read:notifications`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from microblog_common.errors import BadRequest, NotFound, Unauthorized
from microblog_common.internal_auth import Identity, identity_from_request
from notify.runtime import Runtime
from notify.streaming.connections import (
    HASHTAG,
    HASHTAG_LOCAL,
    KNOWN_STREAMS,
    SSE_HEARTBEAT,
    SSE_HELLO,
    STREAM_SCOPES,
    Connection,
)
from notify.streaming.hub import StreamHub

log = structlog.get_logger(__name__)
router = APIRouter(tags=["streaming"])

# SSE path (after /api/v1/streaming/) -> stream name.
SSE_CHANNELS = {
    "user": "user",
    "user/notification": "user:notification",
    "public": "public",
    "public/local": "public:local",
    "public/remote": "public:remote",
    "hashtag": HASHTAG,
    "hashtag/local": HASHTAG_LOCAL,
    "direct": "direct",
}
# How long one write may wait for a client that doesn't read before it is dropped.
WRITE_TIMEOUT_SECONDS = 10.0
MAX_TAG_LENGTH = 255


def _runtime(connection: Request | WebSocket) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


def _stream_name(stream: str, only_media: str | None) -> str:
    if only_media in ("true", "1") and stream in ("public", "public:local", "public:remote"):
        return f"{stream}:media"
    return stream


def check_stream(identity: Identity, stream: str, tag: str | None) -> str | None:
    """The problem with subscribing to `stream`, or None."""
    if stream == "list":
        return "List not found"
    if stream not in KNOWN_STREAMS:
        return "Unknown channel requested"
    if stream in (HASHTAG, HASHTAG_LOCAL) and (not tag or len(tag) > MAX_TAG_LENGTH or "\x00" in tag):
        return "No tag for stream provided"
    scopes = STREAM_SCOPES.get(stream, ())
    if scopes and not any(identity.has_scope(s) for s in scopes):
        return "Access token does not have the required scopes"
    return None


def _user(identity: Identity | None) -> Identity:
    if identity is None or identity.user_id is None:
        raise Unauthorized("Missing access token")
    return identity


@router.get("/api/v1/streaming/health", response_class=PlainTextResponse)
def health() -> str:
    return "OK"


class ServerSentEvents:
    """`GET /api/v1/streaming/<channel>`: a plain ASGI endpoint rather than a framework route, so
    an open stream holds nothing but its connection (no request object, dependency state or
    response wrapper per stream: memory per stream is what lets one process hold thousands).
    Refusals raise the API's errors, rendered by the shared handlers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        identity = _user(identity_from_request(request))
        channel = str(scope["path_params"]["channel"]).strip("/")
        if channel == "list":
            raise NotFound("List not found")
        stream = SSE_CHANNELS.get(channel)
        if stream is None:
            raise BadRequest("Unknown channel requested")
        stream = _stream_name(stream, request.query_params.get("only_media"))
        tag = request.query_params.get("tag")
        problem = check_stream(identity, stream, tag)
        if problem is not None:
            raise (Unauthorized(problem) if "scopes" in problem else BadRequest(problem))
        runtime = _runtime(request)
        hub = runtime.hub
        assert identity.user_id is not None
        connection = hub.connect(identity.user_id, identity.scopes, websocket=False)
        del request  # nothing of the request is kept while the stream is open
        try:
            await hub.subscribe(connection, stream, tag)
        except BaseException:
            hub.disconnect(connection)
            raise
        await EventStream(hub, connection, runtime.settings.stream_heartbeat_seconds)(scope, receive, send)


router.routes.append(Route("/api/v1/streaming/{channel:path}", ServerSentEvents(), methods=["GET"]))


class EventStream(Response):
    """The SSE response: `:)` at once, then each event as it comes and `:thump` after every quiet
    heartbeat interval, until the client leaves, the stream is dropped or the process stops."""

    media_type = "text/event-stream"

    def __init__(self, hub: StreamHub, connection: Connection, heartbeat: float):
        super().__init__(status_code=200)
        self.hub = hub
        self.connection = connection
        self.heartbeat = heartbeat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = self.connection
        client_left = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            client_left.set()
            connection.close()

        watcher = asyncio.create_task(watch())
        complete = False
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream"),
                        (b"cache-control", b"no-store"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            await self._write(send, SSE_HELLO)
            while connection.is_open():
                message = await connection.next(self.heartbeat)
                if not connection.is_open():
                    break
                if message is None:
                    await self._write(send, SSE_HEARTBEAT)
                else:
                    burst = connection.take_pending()
                    body = message.sse() + b"".join(m.sse() for m in burst) if burst else message.sse()
                    await self._write(send, body)
            if not client_left.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                        complete = True
        except TimeoutError:
            connection.dropped = True  # a write waited too long on a client that doesn't read
        finally:
            watcher.cancel()
            self.hub.disconnect(connection)
        if not complete and not client_left.is_set():
            log.info("stream_cut", account_id=connection.account_id, dropped=connection.dropped)

    @staticmethod
    async def _write(send: Send, data: bytes) -> None:
        async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
            await send({"type": "http.response.body", "body": data, "more_body": True})


# -- WebSocket ------------------------------------------------------------------------------------


@router.websocket("/api/v1/streaming")
async def websocket_streams(websocket: WebSocket) -> None:
    identity = identity_from_request(websocket)  # type: ignore[arg-type]
    if identity is None or identity.user_id is None:
        await websocket.send_denial_response(JSONResponse({"error": "Missing access token"}, status_code=401))
        return
    await websocket.accept()
    hub = _runtime(websocket).hub
    connection = hub.connect(identity.user_id, identity.scopes, websocket=True)
    writer = asyncio.create_task(_write_frames(websocket, connection))
    try:
        stream = websocket.query_params.get("stream")
        if stream:  # `?stream=` subscribes at once, as Mastodon
            await _subscribe(websocket, hub, connection, identity, stream, websocket.query_params.get("tag"))
        while not connection.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await websocket.close(code=1003)  # binary frames are not part of the protocol
                break
            await _on_client_message(websocket, hub, connection, identity, message.get("text") or "")
    except WebSocketDisconnect:
        pass
    finally:
        connection.close()
        await asyncio.gather(writer, return_exceptions=True)
        hub.disconnect(connection)
        if connection.dropped and websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code=1013)


async def _write_frames(websocket: WebSocket, connection: Connection) -> None:
    try:
        while not connection.closed:
            message = await connection.next(3600.0)  # the server's ping frames keep it alive
            if message is None:
                continue
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                await websocket.send_text(message.websocket())
    except TimeoutError:
        connection.dropped = True
        connection.close()
    except Exception:  # the client went away mid-write
        connection.close()


async def _on_client_message(
    websocket: WebSocket, hub: StreamHub, connection: Connection, identity: Identity, text: str
) -> None:
    try:
        message: Any = json.loads(text)
    except ValueError:
        await _error(websocket, "Could not parse the message", 400)
        return
    if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
        return  # Mastodon ignores other messages
    stream = message.get("stream")
    if isinstance(stream, list):
        stream = stream[0] if stream else None
    tag = message.get("tag")
    if not isinstance(stream, str) or (tag is not None and not isinstance(tag, str)):
        await _error(websocket, "Unknown channel requested", 400)
        return
    if message["type"] == "subscribe":
        await _subscribe(websocket, hub, connection, identity, stream, tag)
    else:
        hub.unsubscribe(connection, stream, tag)


async def _subscribe(
    websocket: WebSocket,
    hub: StreamHub,
    connection: Connection,
    identity: Identity,
    stream: str,
    tag: str | None,
) -> None:
    problem = check_stream(identity, stream, tag)
    if problem is not None:
        await _error(
            websocket, problem, 401 if "scopes" in problem or problem == "List not found" else 400, stream
        )
        return
    if (stream, tag) in connection.subscriptions:
        return  # a duplicate subscribe is ignored
    await hub.subscribe(connection, stream, tag)


async def _error(websocket: WebSocket, error: str, status: int, stream: str | None = None) -> None:
    body: dict[str, Any] = {"error": error, "status": status}
    if stream is not None:
        body["stream"] = [stream]
    with contextlib.suppress(Exception):
        await websocket.send_text(json.dumps(body))
