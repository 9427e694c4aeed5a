"""Rebuilding the index from the sources (`python -m search.manage rebuild`).

1. Read every account, follow, status and favourite from the users and posts services' internal
   exports (signed calls, paged by id) and apply each to the replica under the same version rule
   as the events (`claim_version`), so an export older than an event already applied changes
   nothing and an event older than the export is dropped when it arrives.
2. Sweep: a status or account the replica holds that the export didn't list (within the ids it
   covered), and that no event changed since the rebuild started, is gone at the source (an
   event was lost): it is deleted.
3. Request a new index generation. The running service's event lane builds it from the replica
   while writing every new change to it as well, then switches searches to it atomically
   (Elasticsearch: an alias; the embedded index: a pointer file); searches never see an empty or
   half-built index. This waits until it has.

Running it twice, or while events flow, is harmless."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from microblog_common.contracts.export import ExportItem, ExportPage
from microblog_common.contracts.posts import ExportedFavourite, StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot, UserFollowed, follow_subject
from microblog_common.db import Database
from microblog_common.internal_client import InternalClient, ServiceAddress
from search.indexing import generations
from search.indexing.generations import GenerationState
from search.models import CURRENT, RETIRED
from search.replica import repository as replica_repository
from search.replica import service as replica
from search.settings import Settings


class RebuildError(RuntimeError):
    pass


@dataclass
class Counts:
    read: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    swept: dict[str, int] = field(default_factory=dict)


def _pages(client: InternalClient, path: str, page_size: int) -> Iterator[list[ExportItem]]:
    after = "0"
    while True:
        response = client.get(f"/internal/export/{path}", params={"after": after, "limit": page_size})
        if response.status_code != 200:
            raise RebuildError(
                f"{client.address.name} answered {response.status_code} to {path}: {response.text[:300]}"
            )
        page = ExportPage.model_validate(response.json())
        yield page.items
        if page.next is None:
            return
        after = page.next


def _apply_account(session: Session, item: ExportItem, mark: int) -> bool:
    snapshot = AccountSnapshot.model_validate(item.data)
    if replica_repository.claim(session, "account", snapshot.id, item.version):
        replica.upsert_account(session, snapshot, mark=mark)
        return True
    replica.mark_account_seen(session, int(snapshot.id), mark)
    return False


def _apply_follow(session: Session, item: ExportItem, mark: int) -> bool:
    follow = UserFollowed.model_validate(item.data)
    if replica_repository.claim(
        session, "follow", follow_subject(follow.follower_id, follow.followee_id), item.version
    ):
        replica.set_follow(session, int(follow.follower_id), int(follow.followee_id), active=True)
        return True
    return False


def _apply_status(session: Session, item: ExportItem, mark: int) -> bool:
    snapshot = StatusSnapshot.model_validate(item.data)
    if replica_repository.claim(session, "status", snapshot.id, item.version):
        replica.upsert_status(session, snapshot, mark=mark)
        return True
    replica.mark_status_seen(session, int(snapshot.id), mark)
    return False


def _apply_favourite(session: Session, item: ExportItem, mark: int) -> bool:
    favourite = ExportedFavourite.model_validate(item.data)
    replica.set_favourite(
        session, int(favourite.account_id), int(favourite.status_id), active=True, at=favourite.at
    )
    return True


Applier = Callable[[Session, ExportItem, int], bool]


def import_exports(
    db: Database, users: InternalClient, posts: InternalClient, *, mark: int, page_size: int, counts: Counts
) -> dict[str, int]:
    """Applies every exported item; returns the highest id seen per kind (what the sweep covers)."""
    highest: dict[str, int] = {}
    plan: list[tuple[str, InternalClient, Applier, str]] = [
        ("accounts", users, _apply_account, "id"),
        ("follows", users, _apply_follow, ""),
        ("statuses", posts, _apply_status, "id"),
        ("favourites", posts, _apply_favourite, ""),
    ]
    for kind, client, apply, id_field in plan:
        counts.read[kind] = counts.applied[kind] = 0
        for items in _pages(client, kind, page_size):
            with db.unit_of_work() as session:
                for item in items:
                    counts.read[kind] += 1
                    counts.applied[kind] += int(apply(session, item, mark))
                    if id_field:
                        highest[kind] = max(highest.get(kind, 0), int(item.data[id_field]))
    return highest


def sweep(db: Database, *, mark: int, started_at: datetime, highest: dict[str, int], counts: Counts) -> None:
    with db.unit_of_work() as session:
        statuses = replica_repository.unseen_status_ids(
            session, up_to=highest.get("statuses", 0), mark=mark, changed_before=started_at
        )
        counts.swept["statuses"] = len(statuses)
        replica.tombstone_statuses(session, statuses)
        accounts = replica_repository.unseen_account_ids(
            session, up_to=highest.get("accounts", 0), mark=mark, changed_before=started_at
        )
        counts.swept["accounts"] = len(accounts)
        for account_id in accounts:
            replica.delete_account(session, account_id)


def request_generation(db: Database) -> GenerationState:
    with db.unit_of_work() as session:
        return generations.request(session)


def wait_until_current(
    db: Database,
    generation_id: int,
    *,
    timeout: float,
    progress: Callable[[GenerationState], None] | None = None,
) -> GenerationState:
    deadline = time.monotonic() + timeout
    while True:
        with db.unit_of_work() as session:
            state = generations.get(session, generation_id)
        if state is None:
            raise RebuildError(f"generation {generation_id} disappeared")
        if progress is not None:
            progress(state)
        if state.state in (CURRENT, RETIRED):
            return state
        if time.monotonic() > deadline:
            raise RebuildError(
                f"generation {state.name} is still {state.state} after {timeout:.0f}s: is the search "
                "service (or its worker) running? It builds the index; this only asked for it."
            )
        time.sleep(0.5)


def rebuild(
    settings: Settings,
    *,
    wait: bool = True,
    timeout: float = 3600.0,
    progress: Callable[[GenerationState], None] | None = None,
) -> tuple[Counts, GenerationState]:
    if settings.users_url is None or settings.posts_url is None:
        raise RebuildError("USERS_URL and POSTS_URL must name the users and posts services")
    secret = settings.internal_secret.get_secret_value()
    users = InternalClient(ServiceAddress.parse("users", settings.users_url), secret, timeout=30)
    posts = InternalClient(ServiceAddress.parse("posts", settings.posts_url), secret, timeout=30)
    db = Database(settings.database_url, pool_size=2, max_overflow=0)
    counts = Counts()
    try:
        started_at = datetime.now(UTC)
        mark = int(time.time()) % (1 << 31)
        highest = import_exports(
            db, users, posts, mark=mark, page_size=settings.export_page_size, counts=counts
        )
        sweep(db, mark=mark, started_at=started_at, highest=highest, counts=counts)
        generation = request_generation(db)
        if wait:
            generation = wait_until_current(db, generation.id, timeout=timeout, progress=progress)
        return counts, generation
    finally:
        users.close()
        posts.close()
        db.dispose()
