"""Limits on what a request may send, enforced before the body is read whole: its size (one limit
for uploads, `multipart/form-data`, one for everything else) and, for JSON, how deeply it nests.

The gateway enforces them at the edge; every service enforces them again with
`BodyLimitMiddleware` (added by `create_service_app`), so a request that reaches a service
directly is treated the same. Both refuse a body announced too large (`Content-Length`) at once,
without reading it, and cut a streamed (chunked) one as soon as it goes over.

JSON depth is counted by a small scanner over the bytes as they arrive (it respects strings and
escapes, and parses nothing else), so `{"note": [[[[...5,000 levels...]]]]}` is refused before any
parser recurses into it."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from microblog_common.errors import BadRequest, PayloadTooLarge, error_body

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_UPLOAD_BODY_BYTES = 10 * 1024 * 1024
# Mastodon's forms nest three levels at most (`fields_attributes[0][name]`).
DEFAULT_MAX_JSON_DEPTH = 32

_OUTSIDE_STRING = re.compile(rb'["\[\]{}]')
_INSIDE_STRING = re.compile(rb'["\\]')


class BodyTooLarge(PayloadTooLarge):
    def __init__(self, limit: int):
        super().__init__(f"The request body is too large (at most {limit} bytes)")


class JsonTooDeep(BadRequest):
    def __init__(self, limit: int):
        super().__init__(f"The request body is nested too deeply (at most {limit} levels)")


class JsonDepthScanner:
    """`feed()` the bytes of a JSON document in order, in chunks of any size; raises JsonTooDeep
    as soon as arrays and objects nest deeper than `max_depth`. Not a validator: malformed JSON is
    the parser's to refuse."""

    def __init__(self, max_depth: int = DEFAULT_MAX_JSON_DEPTH):
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False
        self.escaped = False  # the chunk ended on a backslash inside a string

    def feed(self, chunk: bytes) -> None:
        position, end = 0, len(chunk)
        if self.escaped and end:
            position, self.escaped = 1, False
        while position < end:
            if self.in_string:
                found = _INSIDE_STRING.search(chunk, position)
                if found is None:
                    return
                position = found.end()
                if chunk[found.start()] == 0x5C:  # a backslash: the next byte is escaped
                    if position >= end:
                        self.escaped = True
                        return
                    position += 1
                else:
                    self.in_string = False
                continue
            found = _OUTSIDE_STRING.search(chunk, position)
            if found is None:
                return
            position = found.end()
            byte = chunk[found.start()]
            if byte == 0x22:
                self.in_string = True
            elif byte in (0x5B, 0x7B):
                self.depth += 1
                if self.depth > self.max_depth:
                    raise JsonTooDeep(self.max_depth)
            elif self.depth:
                self.depth -= 1


def check_json_depth(data: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> None:
    JsonDepthScanner(max_depth).feed(data)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


def is_upload(content_type: str | None) -> bool:
    return media_type(content_type) == "multipart/form-data"


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope["headers"]}


def announced_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


async def send_json_error(send: Send, status: int, message: str) -> None:
    body = json.dumps(error_body(message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Pure ASGI: a body over its limit gets 413 (announced: before a byte is read; streamed: as
    soon as it goes over), a JSON body nested too deeply 400, both in the API's error format."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_upload_body_bytes: int = DEFAULT_MAX_UPLOAD_BODY_BYTES,
        max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_body_bytes = max_upload_body_bytes
        self.max_json_depth = max_json_depth

    def limit_for(self, content_type: str | None) -> int:
        return self.max_upload_body_bytes if is_upload(content_type) else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        limit = self.limit_for(content_type)
        length = announced_length(headers)
        if length is not None and length > limit:
            await send_json_error(send, 413, BodyTooLarge(limit).message)
            return
        scanner = JsonDepthScanner(self.max_json_depth) if is_json(content_type) else None
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise BodyTooLarge(limit)
                if scanner is not None:
                    scanner.feed(chunk)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except (BodyTooLarge, JsonTooDeep) as exc:
            # Raised from `receive` where nothing turned it into an answer (a pure ASGI app).
            if started:
                raise
            await send_json_error(send, exc.status_code, exc.message)
