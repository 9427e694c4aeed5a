"""Every query of the live streams: who is watching (`stream_presence`), the accounts with a live
user stream open on some API replica. Each replica writes rows for the accounts it streams to and
refreshes them while they stay connected; a row expires on its own (a replica that crashed stops
counting), so the email rule ("no activity email while the account has a live stream open", as
Mastodon) holds across replicas. (What the streams render is read through the notifications and
replica repositories.)"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from microblog_common.sql import dialect_insert
from notify.models import StreamPresence


def is_watching(session: Session, account_id: int, now: datetime) -> bool:
    found = session.scalar(
        select(StreamPresence.account_id)
        .where(StreamPresence.account_id == account_id, StreamPresence.expires_at > now)
        .limit(1)
    )
    return found is not None


def refresh_presence(
    session: Session,
    replica: str,
    gone: Collection[int],
    expires_at: datetime,
    watching: Collection[int] | None = None,
) -> None:
    """This replica's rows, each valid until `expires_at`, without the accounts in `gone` (they
    stopped watching here). Two statements whatever the number of streams: rows are added when an
    account starts watching (`mark_present`). With `watching` (a replica's first refresh, and the
    one after a failed write), the rows are rewritten to be exactly those accounts."""
    if watching is None:
        if gone:
            session.execute(
                delete(StreamPresence).where(
                    StreamPresence.replica == replica, StreamPresence.account_id.in_(sorted(set(gone)))
                )
            )
        session.execute(
            update(StreamPresence).where(StreamPresence.replica == replica).values(expires_at=expires_at)
        )
        return
    ids = sorted(set(watching))
    stale = delete(StreamPresence).where(StreamPresence.replica == replica)
    if ids:
        stale = stale.where(StreamPresence.account_id.not_in(ids))
    session.execute(stale)
    if ids:
        stmt = dialect_insert(session)(StreamPresence).values(
            [{"account_id": i, "replica": replica, "expires_at": expires_at} for i in ids]
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["account_id", "replica"], set_={"expires_at": stmt.excluded.expires_at}
            )
        )


def mark_present(session: Session, replica: str, account_id: int, expires_at: datetime) -> None:
    """One account just connected: counts at once, before the next refresh."""
    stmt = dialect_insert(session)(StreamPresence).values(
        account_id=account_id, replica=replica, expires_at=expires_at
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "replica"], set_={"expires_at": stmt.excluded.expires_at}
        )
    )


def forget_replica(session: Session, replica: str) -> None:
    session.execute(delete(StreamPresence).where(StreamPresence.replica == replica))
