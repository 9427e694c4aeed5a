"""Markers (`/api/v1/markers`): the read position of the home and notifications timelines, which
the unread counts use. As Mastodon: `version` is a lock version growing with every update; two
updates of one marker at the same moment make one of them a 409."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microblog_common.db import SessionDep
from microblog_common.errors import Conflict, Unprocessable
from microblog_common.ids import parse_id
from microblog_common.internal_auth import Identity, require_user
from microblog_common.mastodon.statuses import iso
from microblog_common.params import list_param, request_params
from microblog_common.sql import dialect_insert
from notify.models import Marker
from notify.replica import affected

router = APIRouter(tags=["markers"])
TIMELINES = ("home", "notifications")


def render(marker: Marker) -> dict[str, Any]:
    return {
        "last_read_id": str(marker.last_read_id),
        "version": marker.version,
        "updated_at": iso(marker.updated_at),
    }


@router.get("/api/v1/markers")
def get_markers(
    session: SessionDep,
    identity: Annotated[Identity, Depends(require_user("read", "read:statuses"))],
    timeline: Annotated[list[str] | None, Query(alias="timeline[]")] = None,
) -> dict[str, Any]:
    assert identity.user_id is not None
    wanted = [t for t in timeline or () if t in TIMELINES]
    if not wanted:
        return {}
    rows = session.scalars(
        select(Marker).where(Marker.account_id == identity.user_id, Marker.timeline.in_(wanted))
    )
    return {row.timeline: render(row) for row in rows}


@router.post("/api/v1/markers")
def set_markers(
    session: SessionDep,
    identity: Annotated[Identity, Depends(require_user("write", "write:statuses"))],
    params: Annotated[dict[str, Any], Depends(request_params)],
) -> dict[str, Any]:
    """`home[last_read_id]` and/or `notifications[last_read_id]`, as a form or JSON."""
    assert identity.user_id is not None
    changes: dict[str, int] = {}
    for timeline in TIMELINES:
        given = params.get(timeline)
        if given is None:
            continue
        raw = given.get("last_read_id") if isinstance(given, dict) else None
        ids = list_param({"v": raw}, "v") if raw is not None else []
        last_read_id = parse_id(ids[0]) if len(ids) == 1 else None
        if last_read_id is None:
            raise Unprocessable(
                f"Validation failed: Last read id can't be blank or invalid ({timeline})",
                details={f"{timeline}.last_read_id": [{"error": "ERR_INVALID", "description": "is invalid"}]},
            )
        changes[timeline] = last_read_id
    return {
        timeline: render(_save(session, identity.user_id, timeline, value))
        for timeline, value in changes.items()
    }


def _save(session: Session, account_id: int, timeline: str, last_read_id: int) -> Marker:
    now = datetime.now(UTC)
    current = session.get(Marker, (account_id, timeline))
    if current is None:
        stmt = dialect_insert(session)(Marker).values(
            account_id=account_id, timeline=timeline, last_read_id=last_read_id, version=0, updated_at=now
        )
        try:
            with session.begin_nested():
                done = affected(
                    session, stmt.on_conflict_do_nothing(index_elements=["account_id", "timeline"])
                )
        except IntegrityError as exc:
            raise _conflict() from exc
        if done != 1:
            raise _conflict()
    else:
        # Optimistic, as Rails' lock_version: an update that lost a race changes nothing.
        done = affected(
            session,
            update(Marker)
            .where(
                Marker.account_id == account_id,
                Marker.timeline == timeline,
                Marker.version == current.version,
            )
            .values(last_read_id=last_read_id, version=current.version + 1, updated_at=now),
        )
        if done != 1:
            raise _conflict()
    session.expire_all()
    saved = session.get(Marker, (account_id, timeline))
    assert saved is not None
    return saved


def _conflict() -> Conflict:
    return Conflict("Conflict during update, please try again")
