from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Revocation(BaseModel):
    cursor: int
    jti: str
    expires_at: datetime


class RevocationFeed(BaseModel):
    revocations: list[Revocation]
    # Pass it back as `after`; equal to `after` when nothing new was revoked.
    next_cursor: int
    # The oldest cursor still held (older rows are pruned): a reader whose `after` is below it
    # may have missed revocations and must ask again about every token it remembers.
    oldest_cursor: int | None = None


class TokenStatus(BaseModel):
    jti: str
    active: bool
