"""Index generations in the database: which one searches read, which one a rebuild is filling.
Flushes, never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from microblog_common.ids import new_id
from microblog_common.sql import dialect_insert
from search.models import IndexGeneration

REQUESTED, BUILDING, CURRENT, RETIRED = "requested", "building", "current", "retired"


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
    name = f"g{new_id()}"
    session.execute(
        dialect_insert(session)(IndexGeneration)
        .values(
            state=REQUESTED,
            name=name,
            statuses_after=0,
            accounts_after=0,
            documents=0,
            requested_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["name"])
    )
    row = session.scalars(select(IndexGeneration).where(IndexGeneration.name == name)).one()
    return _state(row)


def live(session: Session) -> tuple[GenerationState | None, GenerationState | None]:
    """(the current generation, the one being built or requested), either possibly None. The first
    time the service runs there is neither: a first generation is requested."""
    rows = list(
        session.scalars(
            select(IndexGeneration)
            .where(IndexGeneration.state.in_((REQUESTED, BUILDING, CURRENT)))
            .order_by(IndexGeneration.id)
        )
    )
    current = next((_state(r) for r in reversed(rows) if r.state == CURRENT), None)
    pending = next((_state(r) for r in rows if r.state in (REQUESTED, BUILDING)), None)
    if current is None and pending is None:
        pending = request(session)
    return current, pending


def get(session: Session, generation_id: int) -> GenerationState | None:
    row = session.get(IndexGeneration, generation_id, populate_existing=True)
    return _state(row) if row is not None else None


def set_state(session: Session, generation_id: int, state: str) -> None:
    values: dict[str, object] = {"state": state}
    if state in (CURRENT, RETIRED):
        values["finished_at"] = datetime.now(UTC)
    session.execute(update(IndexGeneration).where(IndexGeneration.id == generation_id).values(**values))


def advance(
    session: Session, generation_id: int, *, statuses_after: int, accounts_after: int, documents: int
) -> None:
    session.execute(
        update(IndexGeneration)
        .where(IndexGeneration.id == generation_id)
        .values(
            statuses_after=statuses_after,
            accounts_after=accounts_after,
            documents=IndexGeneration.documents + documents,
        )
    )


def retire_others(session: Session, keep_id: int) -> list[str]:
    """Every other current generation becomes retired; returns their names (to drop)."""
    names = list(
        session.scalars(
            select(IndexGeneration.name).where(
                IndexGeneration.state == CURRENT, IndexGeneration.id != keep_id
            )
        )
    )
    session.execute(
        update(IndexGeneration)
        .where(IndexGeneration.state == CURRENT, IndexGeneration.id != keep_id)
        .values(state=RETIRED, finished_at=datetime.now(UTC))
    )
    return names
