"""What the gateway needs to verify tokens on its own: the public keys and the revocation feed."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from microblog_common.db import SessionDep
from microblog_common.errors import Forbidden
from microblog_common.internal_auth import identity_from_request
from users.runtime import RuntimeDep
from users.tokens import repository
from users.tokens.schemas import Revocation, RevocationFeed

router = APIRouter(tags=["tokens"])

MAX_FEED_PAGE = 1000


@router.get("/.well-known/jwks.json")
def jwks(session: SessionDep, runtime: RuntimeDep, response: Response) -> dict:
    response.headers["Cache-Control"] = "public, max-age=60"
    return {"keys": runtime.keys.published(session)}


@router.get("/internal/token-revocations", response_model=RevocationFeed)
def token_revocations(
    request: Request,
    session: SessionDep,
    after: int = Query(0, ge=0),
    limit: int = Query(500, ge=1, le=MAX_FEED_PAGE),
) -> RevocationFeed:
    # The gateway calls this for itself, never on behalf of a client's token.
    if identity_from_request(request) is not None:
        raise Forbidden("This endpoint is for the gateway only")
    rows = repository.revocations_after(session, after, limit)
    return RevocationFeed(
        revocations=[Revocation(cursor=r.cursor, jti=r.jti, expires_at=r.expires_at) for r in rows],
        next_cursor=rows[-1].cursor if rows else after,
    )
