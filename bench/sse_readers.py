"""Thousands of Server-Sent Event streams read by one benchmark process, as cheaply as it can be
done, so that the latency a benchmark reports is the server's and not its own reading's.

A stream is an `asyncio.Protocol` on a plain socket: what arrives is kept as raw bytes with the
time it arrived, and the only work done on arrival is counting the ends of events (`\\n\\n`).
Parsing (HTTP chunks, the `event:`/`data:` lines, the JSON) waits until the measurement is over
(`events()`), when its cost no longer delays the arrivals it times. With an HTTP client and a JSON
parse per line instead, 5,000 readers spent about as much CPU per post as the server that sent it,
on the same two cores, and that time showed up in the figures as the server's latency."""

from __future__ import annotations

import asyncio
import bisect
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# An event as the notify service writes it: `event` then one `data` line, a blank line ends it.
_EVENT = re.compile(rb"event: ([\w.]+)\ndata: ([^\n]*)\n\n")


@dataclass(frozen=True)
class Arrival:
    event: str
    data: str
    at: float  # time.perf_counter() when the bytes completing it arrived


@dataclass(eq=False)
class SseStream(asyncio.Protocol):
    """One stream: raw bytes with their arrival times, and counts cheap enough to poll."""

    key: Any
    chunks: list[bytes] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    ended: int = 0  # events completed so far
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    transport: asyncio.Transport | None = None
    _last: int = 0  # the last byte received, for an event end split across two reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.times.append(time.perf_counter())
        self.chunks.append(data)
        self.ended += data.count(b"\n\n") + (self._last == 10 and data[:1] == b"\n")
        self._last = data[-1]
        if not self.opened.is_set():
            first = self.chunks[0]
            # Open once the hello comment came, or answered with something other than a stream.
            if b":)\n" in b"".join(self.chunks[-2:]) or not first.startswith(b"HTTP/1.1 200"):
                self.opened.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        self.opened.set()  # so nothing waits for a stream that failed to open

    def status_line(self) -> bytes:
        head = b"".join(self.chunks[:4])
        return head.split(b"\r\n", 1)[0]

    def events(self) -> list[Arrival]:
        """Every complete event so far, with when its last byte arrived."""
        raw = b"".join(self.chunks)
        ends: list[int] = []
        total = 0
        for chunk in self.chunks:
            total += len(chunk)
            ends.append(total)
        found = []
        for match in _EVENT.finditer(raw):
            # The read that held the event's last byte (offset end - 1).
            at = self.times[bisect.bisect_right(ends, match.end() - 1)]
            found.append(Arrival(match.group(1).decode(), match.group(2).decode(), at))
        return found

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_stream(url: str, headers: Mapping[str, str], key: Any) -> SseStream:
    """GET `url` (HTTP/1.1) with `headers` on a new connection; returns once the stream's hello
    (`:)`) arrived, or it was answered otherwise or failed (check `status_line()`)."""
    parts = urlsplit(url)
    stream = SseStream(key)
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: stream, parts.hostname, parts.port or 80)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    assert stream.transport is not None
    stream.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await stream.opened.wait()
    return stream


def json_of(arrival: Arrival) -> Any:
    return json.loads(arrival.data)
