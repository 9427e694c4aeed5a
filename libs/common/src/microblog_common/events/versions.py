"""One rule for event versions, applied once for every consumer.

The envelope's `version` is the version of the aggregate named by `subject` (an account, a follow
between two accounts, a status), and it grows with every change of that aggregate, deletion
included. Each event type belongs to one kind of aggregate (`AGGREGATE_OF`, from the contracts);
a consuming service keeps, per aggregate, the newest version it has applied, and an event whose
version is not newer is dropped before its handler runs. So a handler sees each aggregate's
events in version order, possibly with gaps: one that arrives after a newer one (a retry, a
redelivery, a second replica's consumer) changes nothing. Events of types outside the table
(a password reset request, a favourite) are not versioned and always reach their handler.

The claim is one statement that also locks the aggregate's row for the rest of the transaction,
so two events of one aggregate handled at the same moment apply one after the other. Code that
writes a replica outside a consumer (a synchronous read of the source of truth) claims the same
way, so an older event arriving afterwards can't undo it."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.orm import Session

from microblog_common.sql import affected_rows, dialect_insert


def claim_version(session: Session, table: Table, aggregate: str, subject: str, version: int) -> bool:
    """Records `version` as applied for the aggregate unless this or a newer one already was.
    Returns whether the caller may apply it (False: it is stale, change nothing)."""
    insert = dialect_insert(session)
    stmt = insert(table).values(aggregate=aggregate, subject=subject, version=version)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.aggregate, table.c.subject],
        set_={"version": stmt.excluded.version},
        where=table.c.version < stmt.excluded.version,
    )
    return bool(affected_rows(session.execute(stmt)) == 1)


def applied_version(session: Session, table: Table, aggregate: str, subject: str) -> int | None:
    """The newest version of the aggregate applied so far, if any."""
    return session.execute(
        table.select()
        .with_only_columns(table.c.version)
        .where(table.c.aggregate == aggregate, table.c.subject == subject)
    ).scalar_one_or_none()
