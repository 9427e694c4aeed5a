"""Index generations in the database: which one searches read, which one a rebuild is filling
(the statements: `indexing/repository.py`). Flushes, never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from microblog_common.ids import new_id
from search.indexing import repository
from search.models import BUILDING, CURRENT, REQUESTED, RETIRED, IndexGeneration


@dataclass(frozen=True)
class GenerationState:
    id: int
    name: str
    state: str
    statuses_after: int
    accounts_after: int
    documents: int


def _state(row: IndexGeneration) -> GenerationState:
    return GenerationState(row.id, row.name, row.state, row.statuses_after, row.accounts_after, row.documents)


def request(session: Session) -> GenerationState:
    """A new generation, to be built from the whole replica by the event lane."""
    return _state(repository.add_generation(session, f"g{new_id()}", datetime.now(UTC)))


def live(session: Session) -> tuple[GenerationState | None, GenerationState | None]:
    """(the current generation, the one being built or requested), either possibly None. The first
    time the service runs there is neither: a first generation is requested."""
    rows = repository.generations_in(session, (REQUESTED, BUILDING, CURRENT))
    current = next((_state(r) for r in reversed(rows) if r.state == CURRENT), None)
    pending = next((_state(r) for r in rows if r.state in (REQUESTED, BUILDING)), None)
    if current is None and pending is None:
        pending = request(session)
    return current, pending


def get(session: Session, generation_id: int) -> GenerationState | None:
    row = repository.generation(session, generation_id)
    return _state(row) if row is not None else None


def set_state(session: Session, generation_id: int, state: str) -> None:
    finished_at = datetime.now(UTC) if state in (CURRENT, RETIRED) else None
    repository.set_generation_state(session, generation_id, state, finished_at=finished_at)


def advance(
    session: Session, generation_id: int, *, statuses_after: int, accounts_after: int, documents: int
) -> None:
    repository.advance_generation(
        session,
        generation_id,
        statuses_after=statuses_after,
        accounts_after=accounts_after,
        documents=documents,
    )


def retire_others(session: Session, keep_id: int) -> list[str]:
    """Every other current generation becomes retired; returns their names (to drop)."""
    return repository.retire_current(session, keep_id=keep_id, now=datetime.now(UTC))
