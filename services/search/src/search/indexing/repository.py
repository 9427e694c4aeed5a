"""Every query of the indexing: the queue of documents to bring up to date (`index_changes`), the
replica rows the documents are built from, and the index generations (`index_generations`). The
rules are in `indexer.py`, `documents.py` and `generations.py`. Flushes, never commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.orm import Session

from microblog_common.sql import dialect_insert
from search.models import (
    CURRENT,
    REQUESTED,
    RETIRED,
    Account,
    Favourite,
    IndexChange,
    IndexGeneration,
    Status,
)

# Rows deleted (or changed) per statement: bounded parameter lists on either database.
CHUNK = 500

# -- the queue ----------------------------------------------------------------------------------


def add_changes(session: Session, kind: str, doc_ids: Iterable[int], now: datetime) -> bool:
    """Queues the documents for the indexer; returns whether there were any."""
    rows = [{"kind": kind, "doc_id": doc_id, "created_at": now} for doc_id in doc_ids]
    if rows:
        session.execute(insert(IndexChange), rows)
    return bool(rows)


def next_changes(session: Session, batch: int) -> Sequence[Row[int, str, int]]:
    """(seq, kind, doc_id) of the oldest queued changes, in the order they were queued."""
    return session.execute(
        select(IndexChange.seq, IndexChange.kind, IndexChange.doc_id).order_by(IndexChange.seq).limit(batch)
    ).all()


def forget_changes(session: Session, seqs: Sequence[int]) -> None:
    for chunk in (seqs[i : i + CHUNK] for i in range(0, len(seqs), CHUNK)):
        session.execute(delete(IndexChange).where(IndexChange.seq.in_(chunk)))


# -- what documents are built from ----------------------------------------------------------------


def statuses(session: Session, ids: Collection[int]) -> dict[int, Status]:
    """The statuses with these ids, tombstones included (they become removals)."""
    return {row.id: row for row in session.scalars(select(Status).where(Status.id.in_(list(ids))))}


def favouriters(session: Session, status_ids: Collection[int]) -> dict[int, list[int]]:
    """Who favourites each of these statuses now."""
    found: dict[int, list[int]] = defaultdict(list)
    for status_id, account_id in session.execute(
        select(Favourite.status_id, Favourite.account_id).where(
            Favourite.status_id.in_(list(status_ids)), Favourite.active.is_(True)
        )
    ):
        found[status_id].append(account_id)
    return found


def accounts(session: Session, ids: Collection[int]) -> dict[int, Account]:
    """The accounts with these ids, tombstones included."""
    return {row.id: row for row in session.scalars(select(Account).where(Account.id.in_(list(ids))))}


def status_ids_after(session: Session, after: int, batch: int) -> list[int]:
    """The next statuses of a build, in id order (tombstones left out)."""
    return list(
        session.scalars(
            select(Status.id)
            .where(Status.id > after, Status.deleted.is_(False))
            .order_by(Status.id)
            .limit(batch)
        )
    )


def account_ids_after(session: Session, after: int, batch: int) -> list[int]:
    """The next accounts of a build, in id order (tombstones left out)."""
    return list(
        session.scalars(
            select(Account.id)
            .where(Account.id > after, Account.deleted.is_(False))
            .order_by(Account.id)
            .limit(batch)
        )
    )


# -- generations ----------------------------------------------------------------------------------


def add_generation(session: Session, name: str, now: datetime) -> IndexGeneration:
    """A new generation, requested, nothing built yet (its name is unique)."""
    session.execute(
        dialect_insert(session)(IndexGeneration)
        .values(state=REQUESTED, name=name, statuses_after=0, accounts_after=0, documents=0, requested_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(select(IndexGeneration).where(IndexGeneration.name == name)).one()


def generations_in(session: Session, states: Collection[str]) -> list[IndexGeneration]:
    """The generations in these states, oldest first."""
    return list(
        session.scalars(
            select(IndexGeneration).where(IndexGeneration.state.in_(states)).order_by(IndexGeneration.id)
        )
    )


def generation(session: Session, generation_id: int) -> IndexGeneration | None:
    """As the database has it now (another process builds it)."""
    return session.get(IndexGeneration, generation_id, populate_existing=True)


def set_generation_state(
    session: Session, generation_id: int, state: str, *, finished_at: datetime | None = None
) -> None:
    values: dict[str, object] = {"state": state}
    if finished_at is not None:
        values["finished_at"] = finished_at
    session.execute(update(IndexGeneration).where(IndexGeneration.id == generation_id).values(**values))


def advance_generation(
    session: Session, generation_id: int, *, statuses_after: int, accounts_after: int, documents: int
) -> None:
    """Records how far a build has written (`documents` more of them)."""
    session.execute(
        update(IndexGeneration)
        .where(IndexGeneration.id == generation_id)
        .values(
            statuses_after=statuses_after,
            accounts_after=accounts_after,
            documents=IndexGeneration.documents + documents,
        )
    )


def retire_current(session: Session, *, keep_id: int, now: datetime) -> list[str]:
    """Every current generation but `keep_id` becomes retired; returns their names (to drop)."""
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
        .values(state=RETIRED, finished_at=now)
    )
    return names
