"""Markers (`/api/v1/markers`): the read position of the home and notifications timelines, which
the unread counts use. As Mastodon: `version` is a lock version growing with every update; two
updates of one marker at the same moment make one of them a 409."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from microblog_common.db import SessionDep
from microblog_common.errors import ErrorResponse, Unprocessable
from microblog_common.ids import parse_id
from microblog_common.internal_auth import Identity, require_user
from microblog_common.mastodon.statuses import iso
from microblog_common.params import documented_params, list_param
from notify.markers import service
from notify.markers.schemas import MarkersUpdate
from notify.markers.service import TIMELINES
from notify.models import Marker

router = APIRouter(tags=["markers"])


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
    found = service.markers(session, identity.user_id, timeline or ())
    return {name: render(row) for name, row in found.items()}


@router.post(
    "/api/v1/markers",
    responses={409: {"model": ErrorResponse, "description": "Another update of the marker won the race"}},
)
def set_markers(
    session: SessionDep,
    identity: Annotated[Identity, Depends(require_user("write", "write:statuses"))],
    params: Annotated[dict[str, Any], documented_params(MarkersUpdate)],
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
        timeline: render(service.save(session, identity.user_id, timeline, value))
        for timeline, value in changes.items()
    }
