"""What `POST /api/v1/markers` takes, as the document describes it (the endpoint reads the
parameters itself, with Mastodon's messages)."""

from __future__ import annotations

from pydantic import BaseModel


class MarkerPosition(BaseModel):
    last_read_id: str


class MarkersUpdate(BaseModel):
    """`home[last_read_id]` and/or `notifications[last_read_id]`, as a form or JSON."""

    home: MarkerPosition | None = None
    notifications: MarkerPosition | None = None
