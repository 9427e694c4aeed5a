"""What the gateway needs to verify tokens on its own: the public keys, each token's status, and the
feed of revocations since it started (see the gateway's `tokens.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from microblog_common.db import SessionDep
from microblog_common.errors import Forbidden
from microblog_common.internal_auth import identity_from_request
from users.runtime import RuntimeDep
from users.tokens import repository
from users.tokens.schemas import Revocation, RevocationFeed, TokenStatus

router = APIRouter(tags=["tokens"])

MAX_FEED_PAGE = 1000


@router.get("/.well-known/jwks.json")
def jwks(session: SessionDep, runtime: RuntimeDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=60"
    return {"keys": runtime.keys.published(session)}


def _gateway_only(request: Request) -> None:
    # The gateway calls these for itself, never on behalf of a client's token.
    if identity_from_request(request) is not None:
        raise Forbidden("This endpoint is for the gateway only")


@router.get("/internal/token-revocations", response_model=RevocationFeed)
def token_revocations(
    request: Request,
    session: SessionDep,
    after: int = Query(0, ge=0),
    limit: int = Query(500, ge=1, le=MAX_FEED_PAGE),
    latest: bool = Query(False, description="only where the feed is now (a gateway starting)"),
) -> RevocationFeed:
    _gateway_only(request)
    oldest, newest = repository.feed_bounds(session)
    if latest:
        return RevocationFeed(revocations=[], next_cursor=newest or 0, oldest_cursor=oldest)
    rows = repository.revocations_after(session, after, limit)
    return RevocationFeed(
        revocations=[Revocation(cursor=r.cursor, jti=r.jti, expires_at=r.expires_at) for r in rows],
        next_cursor=rows[-1].cursor if rows else after,
        oldest_cursor=oldest,
    )


@router.get("/internal/tokens/{jti}", response_model=TokenStatus)
def token_status(request: Request, session: SessionDep, jti: str) -> TokenStatus:
    """Whether the token with this id is live (issued, not revoked, not expired)."""
    _gateway_only(request)
    token_id = int(jti) if jti.isdigit() and len(jti) <= 19 else None
    now = datetime.now(UTC)
    active = token_id is not None and repository.token_is_active(session, token_id, now)
    if active:
        assert token_id is not None
        # The gateway asks when it meets a token it doesn't remember: that is a use.
        repository.mark_used(session, token_id, now)
    return TokenStatus(jti=jti, active=active)
