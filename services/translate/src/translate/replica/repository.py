"""Every query on the replica of what other services own (statuses, account languages, follows),
kept from their events. The shared consumer applies each aggregate's events in version order and
drops older ones, so the writes here just apply the snapshot they are given. Flushes, never
commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.orm import Session

from microblog_common.sql import dialect_insert
from translate.models import Account, Follow, Status

# Visibilities anyone may see (and so the only ones a translation is given for, as Mastodon).
PUBLIC_VISIBILITIES = ("public", "unlisted")


@dataclass(frozen=True)
class StatusRow:
    id: int
    account_id: int
    visibility: str
    language: str | None
    content: str
    spoiler_text: str
    mentioned_ids: tuple[int, ...]
    version: int


@dataclass(frozen=True)
class AccountLanguages:
    locale: str | None
    default_language: str | None


def upsert_status(session: Session, row: StatusRow) -> None:
    values = {
        "account_id": row.account_id,
        "visibility": row.visibility,
        "language": row.language,
        "content": row.content,
        "spoiler_text": row.spoiler_text,
        "mentioned_ids": list(row.mentioned_ids),
        "version": row.version,
    }
    stmt = dialect_insert(session)(Status).values(id=row.id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=[Status.id], set_=values))


def delete_status(session: Session, status_id: int) -> None:
    session.execute(delete(Status).where(Status.id == status_id))


_STATUSES = Status.__table__
# Built once, run with bound values: this is every translation's first query, and building a
# statement costs more than running it.
_STATUS_BY_ID = select(
    _STATUSES.c.id, _STATUSES.c.account_id, _STATUSES.c.visibility, _STATUSES.c.language,
    _STATUSES.c.content, _STATUSES.c.spoiler_text, _STATUSES.c.mentioned_ids, _STATUSES.c.version,
).where(_STATUSES.c.id == bindparam("status_id"))  # fmt: skip


def status(session: Session, status_id: int) -> StatusRow | None:
    # Core, on the session's connection: no ORM execution layer for a read of plain columns.
    row = session.connection().execute(_STATUS_BY_ID, {"status_id": status_id}).one_or_none()
    if row is None:
        return None
    return StatusRow(
        id=row.id,
        account_id=row.account_id,
        visibility=row.visibility,
        language=row.language,
        content=row.content,
        spoiler_text=row.spoiler_text,
        mentioned_ids=tuple(int(i) for i in row.mentioned_ids),
        version=row.version,
    )


def status_version(session: Session, status_id: int) -> int | None:
    return session.scalar(select(Status.version).where(Status.id == status_id))


def follows(session: Session, follower_id: int, followee_id: int) -> bool:
    return bool(
        session.scalar(
            select(exists().where(Follow.account_id == follower_id, Follow.target_account_id == followee_id))
        )
    )


def may_see(session: Session, row: StatusRow, viewer_id: int | None) -> bool:
    """Mastodon's rules: public and unlisted to anyone; followers-only to the author, followers
    and mentioned accounts; direct to the author and mentioned accounts."""
    if row.visibility in PUBLIC_VISIBILITIES:
        return True
    if viewer_id is None:
        return False
    if viewer_id == row.account_id or viewer_id in row.mentioned_ids:
        return True
    return row.visibility == "private" and follows(session, viewer_id, row.account_id)


def upsert_account(
    session: Session, account_id: int, *, locale: str | None, default_language: str | None
) -> None:
    """`locale` only comes with `user.registered`: a later snapshot without it keeps the one held."""
    stmt = dialect_insert(session)(Account).values(
        id=account_id, locale=locale, default_language=default_language
    )
    changes: dict[str, object] = {"default_language": stmt.excluded.default_language}
    if locale is not None:
        changes["locale"] = stmt.excluded.locale
    session.execute(stmt.on_conflict_do_update(index_elements=[Account.id], set_=changes))


def account_languages(session: Session, account_id: int) -> AccountLanguages | None:
    row = session.execute(
        select(Account.locale, Account.default_language).where(Account.id == account_id)
    ).one_or_none()
    return AccountLanguages(row.locale, row.default_language) if row is not None else None


def add_follow(session: Session, follower_id: int, followee_id: int) -> None:
    stmt = dialect_insert(session)(Follow).values(account_id=follower_id, target_account_id=followee_id)
    session.execute(stmt.on_conflict_do_nothing(index_elements=[Follow.account_id, Follow.target_account_id]))


def remove_follow(session: Session, follower_id: int, followee_id: int) -> None:
    session.execute(
        delete(Follow).where(Follow.account_id == follower_id, Follow.target_account_id == followee_id)
    )


def delete_account(session: Session, account_id: int) -> None:
    """Everything held of a deleted account: its languages, its follows either way, its statuses."""
    session.execute(delete(Status).where(Status.account_id == account_id))
    session.execute(
        delete(Follow).where((Follow.account_id == account_id) | (Follow.target_account_id == account_id))
    )
    session.execute(delete(Account).where(Account.id == account_id))
