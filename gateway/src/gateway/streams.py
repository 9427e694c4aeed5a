"""The long-lived responses the gateway holds open (Server-Sent Events relays, WebSocket bridges),
by the token that opened them, so that revoking a token ends its streams at once instead of
leaving them open until the client leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class OpenStreams:
    def __init__(self) -> None:
        self._by_token: dict[str, set[asyncio.Event]] = {}

    @contextmanager
    def track(self, token_id: str | None) -> Iterator[asyncio.Event]:
        """An event set when the stream must end (its token was revoked)."""
        ended = asyncio.Event()
        if token_id is None:
            yield ended
            return
        self._by_token.setdefault(token_id, set()).add(ended)
        try:
            yield ended
        finally:
            held = self._by_token.get(token_id)
            if held is not None:
                held.discard(ended)
                if not held:
                    del self._by_token[token_id]

    def end(self, token_id: str) -> int:
        """Ends every stream of the token; returns how many there were."""
        held = self._by_token.pop(token_id, set())
        for ended in held:
            ended.set()
        return len(held)

    def __len__(self) -> int:
        return sum(len(held) for held in self._by_token.values())
