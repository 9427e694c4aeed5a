"""Search documents built from the replica: what the index holds of a status or an account, at the
replica row's revision. A row that is a tombstone (or gone) becomes a removal. (The rows are read
by `indexing/repository.py`.)"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.mastodon.text import links
from search.index.base import ACCOUNT_KIND, STATUS_KIND, AccountDocument, Document, Removal, StatusDocument
from search.indexing import repository
from search.models import Account, Status


def status_documents(session: Session, ids: Sequence[int]) -> list[Document]:
    rows = repository.statuses(session, ids)
    favouriters = repository.favouriters(session, ids)
    documents: list[Document] = []
    for status_id in ids:
        row = rows.get(status_id)
        if row is None:
            continue  # never seen: nothing was indexed either
        if row.deleted:
            documents.append(Removal(STATUS_KIND, row.id, row.revision))
        else:
            documents.append(status_document(row, favouriters.get(row.id, [])))
    return documents


def status_document(row: Status, favouriters: Sequence[int]) -> StatusDocument:
    snapshot = StatusSnapshot.model_validate(row.snapshot)
    mentions = tuple(int(m.id) for m in snapshot.mentions)
    text = f"{snapshot.spoiler_text}\n{snapshot.text}" if snapshot.spoiler_text else snapshot.text
    return StatusDocument(
        id=row.id,
        account_id=row.account_id,
        text=text,
        language=snapshot.language,
        tags=tuple(t.lower() for t in snapshot.tags),
        visibility=snapshot.visibility,
        mentions=mentions,
        searchable_by=tuple(sorted({row.account_id, *mentions, *favouriters})),
        is_reply=snapshot.in_reply_to_id is not None,
        sensitive=snapshot.sensitive,
        has=("link",) if "http" in snapshot.text and links(snapshot.text) else (),
        created_at=snapshot.created_at,
        revision=row.revision,
    )


def account_documents(session: Session, ids: Sequence[int]) -> list[Document]:
    rows = repository.accounts(session, ids)
    documents: list[Document] = []
    for account_id in ids:
        row = rows.get(account_id)
        if row is None:
            continue
        if row.deleted:
            documents.append(Removal(ACCOUNT_KIND, row.id, row.revision))
        else:
            documents.append(account_document(row))
    return documents


def account_document(row: Account) -> AccountDocument:
    return AccountDocument(
        id=row.id,
        username=row.username,
        display_name=str(row.snapshot.get("display_name") or ""),
        followers_count=row.followers_count,
        revision=row.revision,
    )
