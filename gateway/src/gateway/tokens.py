"""Access-token verification: the users service signs JWTs (EdDSA) and publishes its public keys
(JWKS) and a feed of revoked token ids; the gateway verifies every token locally with a pinned
algorithm, issuer and audience, and refuses revoked ones.

Keys are cached and re-fetched when a token names an unknown key id (a rotation), at most once per
`jwks_min_refresh_seconds`. The revocation feed is polled every `revocation_poll_seconds` (2 s by
default), so a revoked token stops working everywhere within a few seconds. If the users service is
unreachable the last known state is used (and logged): nobody can revoke anything meanwhile, and
refusing every signed-in request would turn a users outage into a whole-site outage.

A token that verified is remembered (by its exact text, bounded LRU) until it expires: the
signature check is most of the gateway's cost of a signed-in request (about 0.3 ms of CPU, see
bench/README.md), and a client sends the same token with every request. Expiry and revocation are
still checked on every request, cached or not."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime

import jwt
import structlog
from jwt import PyJWKSet

from microblog_common.internal_auth import Identity

log = structlog.get_logger(__name__)

FetchJson = Callable[[str], Awaitable[dict]]
JWKS_PATH = "/.well-known/jwks.json"
REVOCATIONS_PATH = "/internal/token-revocations"
# Pinned: never taken from the token's header (RFC 8725 section 2.1).
ALGORITHMS = ["EdDSA"]


class TokenVerifier:
    def __init__(
        self,
        fetch_json: FetchJson,
        *,
        issuer: str,
        audience: str,
        revocation_poll_seconds: float = 2.0,
        jwks_min_refresh_seconds: float = 10.0,
        leeway_seconds: int = 10,
        verified_cache_size: int = 10_000,
    ):
        self._fetch_json = fetch_json
        self.issuer = issuer
        self.audience = audience
        self.revocation_poll_seconds = revocation_poll_seconds
        self.jwks_min_refresh_seconds = jwks_min_refresh_seconds
        self.leeway = leeway_seconds
        self._keys: dict[str, object] = {}
        self._jwks_fetched_at = 0.0
        self._jwks_lock = asyncio.Lock()
        self._revoked: dict[str, float] = {}  # jti -> expiry (epoch seconds), dropped once expired
        self._cursor = 0
        self._feed_ok_at = 0.0
        self._task: asyncio.Task | None = None
        # token text -> (identity, expiry in epoch seconds), least recently used first
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._verified_cache_size = verified_cache_size

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._refresh_keys(force=True)
            await self._poll_revocations()
        except Exception as exc:  # users not up yet: keep starting, retry in the background
            log.warning("token_state_unavailable_at_start", error=str(exc))
        self._task = asyncio.create_task(self._poll_forever(), name="token-revocations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- verification ----------------------------------------------------------------------
    async def authenticate(self, token: str) -> Identity | None:
        cached = self._verified.get(token)
        if cached is not None:
            identity, expires_at = cached
            if expires_at + self.leeway < time.time():
                del self._verified[token]
                return None
            if identity.token_id in self._revoked:
                del self._verified[token]
                return None
            self._verified.move_to_end(token)
            return identity
        identity, expires_at = await self._verify(token)
        if identity is not None:
            self._verified[token] = (identity, expires_at)
            if len(self._verified) > self._verified_cache_size:
                self._verified.popitem(last=False)
        return identity

    async def _verify(self, token: str) -> tuple[Identity | None, float]:
        """The identity a token carries, and until when, after the full check."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return None, 0.0
        if header.get("alg") not in ALGORITHMS:
            return None, 0.0
        key = await self._key_for(header.get("kid"))
        if key is None:
            return None, 0.0
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "jti", "iss", "aud"]},
            )
        except jwt.InvalidTokenError:
            return None, 0.0
        jti = str(claims["jti"])
        if jti in self._revoked:
            return None, 0.0
        sub = claims.get("sub") or ""
        identity = Identity(
            user_id=int(sub) if str(sub).isdigit() else None,
            scopes=frozenset(str(claims.get("scope", "")).split()),
            app_id=str(claims["client_id"]) if claims.get("client_id") else None,
            token_id=jti,
            application_id=_int_claim(claims.get("app")),
        )
        return identity, float(claims["exp"])

    async def _key_for(self, kid: str | None) -> object | None:
        if not kid:
            return None
        if kid not in self._keys:
            await self._refresh_keys(force=False)
        return self._keys.get(kid)

    async def _refresh_keys(self, *, force: bool) -> None:
        async with self._jwks_lock:
            if not force and time.monotonic() - self._jwks_fetched_at < self.jwks_min_refresh_seconds:
                return  # a flood of tokens with made-up key ids must not hammer the users service
            self._jwks_fetched_at = time.monotonic()
            try:
                jwks = await self._fetch_json(JWKS_PATH)
            except Exception as exc:
                log.warning("jwks_fetch_failed", error=str(exc))
                if force:
                    raise
                return
            keys = {}
            for jwk in PyJWKSet.from_dict(jwks).keys:
                if jwk.key_id and (jwk.algorithm_name in ALGORITHMS or jwk.key_type == "OKP"):
                    keys[jwk.key_id] = jwk.key
            self._keys = keys

    # -- revocations -----------------------------------------------------------------------
    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.revocation_poll_seconds)
            try:
                await self._poll_revocations()
            except Exception as exc:
                stale_for = time.monotonic() - self._feed_ok_at
                log.warning(
                    "token_revocations_unavailable", error=str(exc), stale_seconds=round(stale_for, 1)
                )

    async def _poll_revocations(self) -> None:
        while True:
            page = await self._fetch_json(f"{REVOCATIONS_PATH}?after={self._cursor}&limit=1000")
            entries = page.get("revocations", [])
            for entry in entries:
                self._revoked[str(entry["jti"])] = _epoch(entry.get("expires_at"))
            self._cursor = int(page.get("next_cursor", self._cursor))
            if len(entries) < 1000:
                break
        self._feed_ok_at = time.monotonic()
        now = time.time()
        for jti in [j for j, exp in self._revoked.items() if exp < now - self.leeway]:
            del self._revoked[jti]


def _int_claim(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _epoch(value: str | None) -> float:
    if not value:
        return float("inf")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
