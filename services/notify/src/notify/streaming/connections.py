"""One open stream (an SSE response or a WebSocket) and what it is subscribed to, and the wire
formats Mastodon's clients read (Mastodon's `streaming/index.js`: `streamToHttp`, `streamToWs`)."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property

# Stream names (Mastodon's channel names) this service accepts, and the scope each needs beside a
# user token (public streams need none since Mastodon 4.2, only a token).
USER, USER_NOTIFICATION = "user", "user:notification"
HASHTAG, HASHTAG_LOCAL = "hashtag", "hashtag:local"
PUBLIC_STREAMS = ("public", "public:local")
# Streams that exist but carry nothing here: no remote accounts, no media, no conversations.
QUIET_STREAMS = ("public:remote", "public:media", "public:local:media", "public:remote:media", "direct")
STREAM_SCOPES: dict[str, tuple[str, ...]] = {
    USER: ("read", "read:statuses"),
    USER_NOTIFICATION: ("read", "read:notifications"),
    "direct": ("read", "read:statuses"),
}
KNOWN_STREAMS = (USER, USER_NOTIFICATION, *PUBLIC_STREAMS, HASHTAG, HASHTAG_LOCAL, *QUIET_STREAMS)
# Streams whose subscriber counts as watching (Mastodon's `subscribed:timeline:<id>`).
PRESENCE_STREAMS = (USER, USER_NOTIFICATION)

SSE_HELLO = b":)\n"
SSE_HEARTBEAT = b":thump\n"


@dataclass(frozen=True)
class Message:
    """An event for one stream: `payload` is JSON text (for `delete`, the bare id). One message
    goes to every connection it is for, so its encodings are made once (cached)."""

    stream: tuple[str, ...]
    event: str
    payload: str

    @cached_property
    def sse_bytes(self) -> bytes:
        # LF only, `event` then `data`, a blank line ends it (what Mastodon.py's parser needs).
        return f"event: {self.event}\ndata: {self.payload}\n\n".encode()

    def sse(self) -> bytes:
        return self.sse_bytes

    def websocket(self) -> str:
        # The payload stays a JSON string inside the frame: masto.js parses it a second time.
        return json.dumps({"stream": list(self.stream), "event": self.event, "payload": self.payload})


@dataclass(eq=False)
class Connection:
    """A bounded queue of what is to be written to one client. The bound is kept here (the deque
    itself is unbounded), so a close always fits in: a client that falls `limit` messages behind is
    dropped, never holding up the others."""

    account_id: int
    scopes: frozenset[str]
    limit: int
    websocket: bool = False
    # (stream, tag as the client sent it) pairs.
    subscriptions: set[tuple[str, str | None]] = field(default_factory=set)
    pending: deque[Message] = field(default_factory=deque)
    closed: bool = False
    dropped: bool = False
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    # What `has_scope` answered, by the scopes asked about: a fan-out asks the same of thousands.
    _scope_answers: dict[tuple[str, ...], bool] = field(default_factory=dict)

    def has_scope(self, scopes: tuple[str, ...]) -> bool:
        answer = self._scope_answers.get(scopes)
        if answer is None:
            answer = not scopes or any(s in self.scopes or s.split(":", 1)[0] in self.scopes for s in scopes)
            self._scope_answers[scopes] = answer
        return answer

    def offer(self, message: Message) -> bool:
        """Queues the message; False (and the connection is dropped) when the client is too far behind."""
        if self.closed:
            return True
        if len(self.pending) >= self.limit:
            self.dropped = True
            self.close()
            return False
        self.pending.append(message)
        self._ready.set()
        return True

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def is_open(self) -> bool:
        # A method, not the attribute: it changes while a caller awaits.
        return not self.closed

    async def next(self, quiet_seconds: float) -> Message | None:
        """The next message, or None after `quiet_seconds` of quiet (time for a heartbeat) or
        once closed (check `closed`)."""
        if not self.pending and not self.closed:
            self._ready.clear()
            try:
                async with asyncio.timeout(quiet_seconds):
                    await self._ready.wait()
            except TimeoutError:
                return None
        if self.closed or not self.pending:
            return None
        return self.pending.popleft()

    def take_pending(self) -> list[Message]:
        """Everything queued (a burst goes out in one write)."""
        taken = list(self.pending)
        self.pending.clear()
        return taken

    def subscribed_to(self, stream: str) -> bool:
        # Streams without a tag (the user's, the public ones) are one set lookup.
        return (stream, None) in self.subscriptions or any(s == stream for s, _ in self.subscriptions)

    def tags(self, stream: str) -> list[str | None]:
        return [tag for s, tag in self.subscriptions if s == stream]
