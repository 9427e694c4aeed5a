"""WebSocket pass-through (`/api/v1/streaming`): the gateway opens its own WebSocket to the
service, signed like any forwarded request, then relays messages both ways, text as text and
binary as binary, until either side closes; the close code travels across.

The service is connected before the client's handshake is answered, so a service that is down
or refuses shows up as an ordinary HTTP error (503, 504, 502 or the service's own status)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import anyio
import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from gateway.access import send_error
from gateway.auth import strip_token_param
from gateway.forwarding import context_headers, signed_identity_headers, upstream_request_headers
from gateway.paths import has_dot_segment
from gateway.proxy import failure_for, raw_target
from gateway.routes import resolve
from gateway.streams import OpenStreams
from gateway.upstreams import Upstream
from microblog_common.logging import current_ids

log = structlog.get_logger(__name__)

# Close codes that are reports, never sent in a close frame (RFC 6455 §7.4.1).
_UNSENDABLE = {1005: 1000, 1006: 1011, 1015: 1011}


def _sendable(code: int | None) -> int:
    if code is None:
        return 1011
    return _UNSENDABLE.get(code, code)


class WebSocketBridge:
    def __init__(
        self,
        upstreams: dict[str, Upstream],
        secret: str,
        open_timeout: float,
        streams: OpenStreams | None = None,
    ):
        self.upstreams = upstreams
        self.secret = secret
        self.open_timeout = open_timeout
        self.streams = streams if streams is not None else OpenStreams()

    async def serve(self, websocket: WebSocket) -> None:
        scope = websocket.scope
        matched = None if has_dot_segment(scope["path"]) else resolve("GET", scope["path"])
        if matched is None or not matched.streaming:
            await send_error(scope, websocket.send, 404, "Record not found", [])
            return
        upstream = self.upstreams[matched.service]
        target = raw_target(scope, strip_token_param(scope.get("query_string", b"").decode("latin-1")))
        state = scope["state"]
        request_id, correlation_id = current_ids()
        headers = upstream_request_headers(scope["headers"], websocket=True)
        headers += context_headers(
            client_ip=state["client_ip"],
            scheme="https" if scope.get("scheme") == "wss" else "http",
            host=websocket.headers.get("host"),
            request_id=request_id,
            correlation_id=correlation_id,
        )
        headers += signed_identity_headers(
            self.secret, "GET", target.encode("latin-1"), state["identity"], state["client_ip"]
        ).items()
        try:
            service_ws = await upstream.connect_websocket(
                target,
                additional_headers=headers,
                open_timeout=self.open_timeout,
                proxy=None,
                compression=None,
                user_agent_header=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            log.info("upstream_websocket_refused", service=upstream.name, status=status)
            await send_error(scope, websocket.send, status, _refusal_message(exc), [])
            return
        except (OSError, TimeoutError, WebSocketException) as exc:
            failure = failure_for(exc, upstream.name)
            log.warning(
                "upstream_websocket_failed", service=upstream.name, status=failure.status, error=repr(exc)
            )
            await send_error(scope, websocket.send, failure.status, failure.message, [])
            return
        subprotocol = (
            websocket.headers.get("sec-websocket-protocol") if state.get("token_in_subprotocol") else None
        )
        await websocket.accept(subprotocol=subprotocol)
        identity = state["identity"]
        async with service_ws:
            with self.streams.track(identity.token_id if identity else None) as ended:
                await _relay(websocket, service_ws, ended)


def _refusal_message(exc: InvalidStatus) -> str:
    try:
        body = json.loads(exc.response.body or b"")
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])
    except ValueError:
        pass
    return exc.response.reason_phrase or "The streaming service refused the connection"


# Sent to the client when its token is revoked mid-stream: a policy violation (RFC 6455 §7.4.1).
REVOKED_CLOSE = (1008, "The access token was revoked")


async def _relay(client: WebSocket, service: ClientConnection, ended: asyncio.Event) -> None:
    async with anyio.create_task_group() as tasks:

        async def end_when_revoked() -> None:
            await ended.wait()
            log.info("stream_ended_token_revoked", service="websocket")
            # The client first: closing the service's side would pass on its close code instead.
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await client.close(code=REVOKED_CLOSE[0], reason=REVOKED_CLOSE[1])
            with contextlib.suppress(Exception):
                await service.close()
            tasks.cancel_scope.cancel()

        async def client_to_service() -> None:
            try:
                while True:
                    message = await client.receive()
                    if message["type"] == "websocket.disconnect":
                        await service.close(code=_sendable(message.get("code", 1000)))
                        break
                    if message.get("text") is not None:
                        await service.send(message["text"])
                    elif message.get("bytes") is not None:
                        await service.send(message["bytes"])
            except ConnectionClosed:
                return  # the service closed: service_to_client passes its close on
            tasks.cancel_scope.cancel()

        async def service_to_client() -> None:
            try:
                async for data in service:
                    if isinstance(data, str):
                        await client.send_text(data)
                    else:
                        await client.send_bytes(data)
            except ConnectionClosed:
                pass
            except (WebSocketDisconnect, OSError):
                # The client went away while we wrote to it.
                await service.close()
                tasks.cancel_scope.cancel()
                return
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await client.close(code=_sendable(service.close_code), reason=service.close_reason or "")
            tasks.cancel_scope.cancel()

        tasks.start_soon(end_when_revoked)
        tasks.start_soon(client_to_service)
        tasks.start_soon(service_to_client)
