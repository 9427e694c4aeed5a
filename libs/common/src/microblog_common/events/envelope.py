"""The integration event envelope of ARCHITECTURE.md. Consumers read tolerantly: unknown fields
in the envelope or in `data` are ignored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class EventParseError(ValueError):
    """The bytes are not an event envelope; such a message is dead-lettered at once."""


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    subject: str
    correlation_id: str | None = None
    # W3C trace context (`traceparent`, `tracestate`) of the change that caused the event, so a
    # consumer's work joins the trace of the request (empty when tracing is off).
    trace_context: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise EventParseError(str(exc)) from exc
