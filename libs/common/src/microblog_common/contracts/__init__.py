"""The payload contracts of the integration events, one module per producing service. The producer
validates each payload against its model before it goes into the outbox; every consumer reads the
same model, so a field renamed on one side breaks the other's tests, not production.

Payloads are read tolerantly: fields may be added (a consumer ignores what it doesn't know), never
removed or renamed. Ids are strings, as in the public API; times UTC ISO 8601."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

if TYPE_CHECKING:  # the events package reads the contracts' aggregates: no import cycle at run time
    from microblog_common.events import Event, Outbox


class Contract(BaseModel):
    # An event written by a newer producer may carry fields this code doesn't know yet.
    model_config = ConfigDict(extra="ignore")


class ContractOutbox:
    """An outbox that only takes payloads of the contract registered for their event type."""

    def __init__(self, outbox: Outbox, contracts: dict[str, type[Contract]]):
        self.outbox = outbox
        self.contracts = contracts

    def publish(
        self,
        session: Session,
        event_type: str,
        payload: Contract,
        *,
        subject: int | str,
        version: int = 1,
    ) -> Event:
        """Written in the caller's transaction: the event exists exactly when the change does."""
        contract = self.contracts[event_type]
        # Exact type: a subclass (e.g. UserRegistered for AccountSnapshot) is another contract.
        if type(payload) is not contract:
            raise TypeError(f"{event_type} carries {contract.__name__}, not {type(payload).__name__}")
        data = payload.model_dump(mode="json")
        return self.outbox.add(session, event_type, subject=subject, data=data, version=version)
