"""The indexer: a lane task that keeps the index up to date with the replica.

The event handlers change the replica and queue the documents they touched (`index_changes`) in the
same transaction as the inbox row, so an acknowledged event is never lost, whatever becomes of the
index. This task reads the queue in order, builds each document from the replica as it is now,
writes the batch to the index (one bulk request, or one tantivy commit) and only then removes those
rows. If the index is down the rows wait and the batch is retried with back-off; applying a batch
twice is harmless (a document is its source's current state, written with its revision).

It also builds generations (`python -m search.manage rebuild`): it creates the new index, fills it
from the whole replica in id order, writes every change to it as well as to the current one
meanwhile, and switches searches to it once it is complete.

It wakes as soon as the lane commits queued documents, so a status is searchable well under a
second after its event arrives; it also looks every INDEX_POLL_INTERVAL_SECONDS (changes queued by
other processes, such as a rebuild)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from sqlalchemy.orm import Session

from microblog_common.allocator import MemoryReleaser
from search.index.base import Document, IndexUnavailable, SearchIndex
from search.indexing import documents, generations, repository
from search.indexing.generations import GenerationState
from search.models import ACCOUNT, BUILDING, CURRENT, REQUESTED, STATUS
from search.replica.service import QUEUED

if TYPE_CHECKING:
    from microblog_common.lane import EventLane
    from search.runtime import Runtime

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass
class Plan:
    current: GenerationState | None
    pending: GenerationState | None
    seqs: list[int]
    documents: list[Document]


def _read_changes(session: Session, batch: int) -> Plan:
    current, pending = generations.live(session)
    rows = repository.next_changes(session, batch)
    statuses = list(dict.fromkeys(doc_id for _, kind, doc_id in rows if kind == STATUS))
    accounts = list(dict.fromkeys(doc_id for _, kind, doc_id in rows if kind == ACCOUNT))
    docs: list[Document] = []
    if statuses:
        docs += documents.status_documents(session, statuses)
    if accounts:
        docs += documents.account_documents(session, accounts)
    return Plan(current, pending, [seq for seq, _, _ in rows], docs)


@dataclass
class _BuildCursor:
    """How far this process has written a generation being built (ahead of what is recorded until
    the next commit)."""

    statuses_after: int
    accounts_after: int
    pending: int = 0


def _scan(
    session: Session, statuses_after: int, accounts_after: int, batch: int
) -> tuple[list[Document], int, int, bool]:
    """The next documents of a generation being built: statuses, then accounts, in id order.
    Returns them, the new positions and whether the scan is complete."""
    if statuses_after >= 0:
        ids = repository.status_ids_after(session, statuses_after, batch)
        if ids:
            return documents.status_documents(session, ids), ids[-1], accounts_after, False
        statuses_after = -1  # done with statuses
    ids = repository.account_ids_after(session, accounts_after, batch)
    if ids:
        return documents.account_documents(session, ids), statuses_after, ids[-1], False
    return [], statuses_after, accounts_after, True


class Indexer:
    def __init__(self, lane: EventLane):
        self.lane = lane
        runtime: Runtime = lane.runtime
        self.index: SearchIndex = runtime.index
        self.settings = runtime.settings
        self.wake = asyncio.Event()
        self._created: set[str] = set()
        self._cursors: dict[int, _BuildCursor] = {}
        self.memory = MemoryReleaser()

    def _on_commit(self, loop: asyncio.AbstractEventLoop) -> None:
        def hook(session: Session) -> None:
            if session.info.pop(QUEUED, False):
                loop.call_soon_threadsafe(self.wake.set)

        self.lane.db.on_commit(hook)

    async def _in_transaction(self, fn: Callable[..., T], *args: Any) -> T:
        def run() -> T:
            with self.lane.db.unit_of_work() as session:
                return fn(session, *args)

        return await self.lane.run_sync(run)

    async def _ensure(self, name: str) -> None:
        if name not in self._created:
            await self.index.create_generation(name)
            self._created.add(name)

    async def step(self) -> bool:
        """One batch of queued changes and one step of a build; whether there may be more."""
        plan: Plan = await self._in_transaction(_read_changes, self.settings.index_batch_size)
        targets: list[str] = []
        if plan.current is not None:
            await self._ensure(plan.current.name)
            targets.append(plan.current.name)
        if plan.pending is not None:
            await self._ensure(plan.pending.name)
            targets.append(plan.pending.name)
        if plan.documents:
            await self.index.write(targets, plan.documents)
            self.memory.after_writing()
        if plan.seqs:
            await self._in_transaction(repository.forget_changes, plan.seqs)
        busy = len(plan.seqs) >= self.settings.index_batch_size
        if plan.pending is not None:
            busy = await self._build(plan.pending) or busy
        return busy

    async def _build(self, generation: GenerationState) -> bool:
        """One batch of the build; its progress is recorded only once the index has committed
        what came before it, so a build that stops (a crash, a deploy) resumes without a gap."""
        if generation.state == REQUESTED:
            await self._in_transaction(generations.set_state, generation.id, BUILDING)
            log.info("index_generation_building", generation=generation.name)
        cursor = self._cursors.get(generation.id)
        if cursor is None:
            cursor = self._cursors[generation.id] = _BuildCursor(
                generation.statuses_after, generation.accounts_after
            )
        docs, cursor.statuses_after, cursor.accounts_after, complete = await self._in_transaction(
            _scan, cursor.statuses_after, cursor.accounts_after, self.settings.rebuild_batch_size
        )
        cursor.pending += len(docs)
        flush = complete or cursor.pending >= self.settings.rebuild_commit_documents
        await self.index.write([generation.name], docs, commit=flush)
        if docs:
            self.memory.after_writing()
        if flush:
            written = cursor.pending
            cursor.pending = 0
            await self._in_transaction(
                lambda s: generations.advance(
                    s,
                    generation.id,
                    statuses_after=cursor.statuses_after,
                    accounts_after=cursor.accounts_after,
                    documents=written,
                )
            )
        if not complete:
            return True
        self._cursors.pop(generation.id, None)
        await self.index.publish(generation.name)

        def switch(session: Session) -> list[str]:
            generations.set_state(session, generation.id, CURRENT)
            return generations.retire_others(session, generation.id)

        retired: list[str] = await self._in_transaction(switch)
        for name in retired:
            await self.index.drop_generation(name)
            self._created.discard(name)
        log.info("index_generation_current", generation=generation.name, retired=retired)
        return False

    async def run(self) -> None:
        self._on_commit(asyncio.get_running_loop())
        backoff = 0.0
        try:
            while not self.lane.stopping.is_set():
                self.wake.clear()
                try:
                    busy = await self.step()
                    backoff = 0.0
                except IndexUnavailable as exc:
                    backoff = min(self.settings.index_retry_max_seconds, max(1.0, backoff * 2))
                    log.warning("index_unavailable", error=str(exc), retry_in=backoff)
                    await self.lane.sleep(backoff)
                    continue
                if busy:
                    continue
                await self._wait(self.settings.index_poll_interval_seconds)
                if self.wake.is_set() and self.settings.index_linger_seconds:
                    await self.lane.sleep(self.settings.index_linger_seconds)
        finally:
            await self.index.close()

    async def _wait(self, seconds: float) -> None:
        waits = [asyncio.create_task(self.wake.wait()), asyncio.create_task(self.lane.stopping.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def keep_index_current(lane: EventLane) -> None:
    """The lane task (`ServiceSpec.lane_tasks`)."""
    await Indexer(lane).run()
