"""Access-token verification: the users service signs JWTs (EdDSA) and publishes its public keys
(JWKS); the gateway verifies every token locally with a pinned algorithm, issuer and audience, and
refuses revoked ones.

Keys are cached and re-fetched when a token names an unknown key id (a rotation), at most once per
`jwks_min_refresh_seconds`.

Revocation, with state that doesn't grow with the number of tokens ever revoked (access tokens
never expire by themselves: Mastodon apps never refresh):
- a token id the gateway hasn't checked lately is looked up at the users service
  (`GET /internal/tokens/<jti>`); the answer is remembered for `status_ttl_seconds`;
- the revocation feed is polled every `revocation_poll_seconds` (2 s by default) from the cursor it
  had when the gateway started (history is never read): a token revoked while its answer is
  remembered is dropped at once, and its open streams are closed (`on_revoked`). So the feed only
  has to cover the remembering window, and the users service prunes it after a day;
- revoked token ids are remembered in a bounded LRU, so a replayed revoked token costs no lookup;
- if the feed broke off for longer than the users service keeps it (its oldest cursor is past
  ours), every remembered answer is forgotten and looked up again.

If the users service can't be reached, remembered answers are kept (nobody can revoke anything
meanwhile), and a token never seen before can't be checked: `TokenCheckUnavailable` (a 503).

A token that verified is remembered (by its exact text, bounded LRU) until it expires or its
status must be looked up again: the signature check is most of the gateway's cost of a signed-in
request (about 0.3 ms of CPU, see bench/README.md), and a client sends the same token with every
request."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from jwt import PyJWKSet
from jwt.algorithms import AllowedPublicKeys

from microblog_common.internal_auth import Identity

log = structlog.get_logger(__name__)

FetchJson = Callable[[str], Awaitable[dict[str, Any]]]
JWKS_PATH = "/.well-known/jwks.json"
REVOCATIONS_PATH = "/internal/token-revocations"
TOKEN_STATUS_PATH = "/internal/tokens/"  # noqa: S105 - a path, not a secret
# Pinned: never taken from the token's header (RFC 8725 section 2.1).
ALGORITHMS = ["EdDSA"]
FEED_PAGE = 1000


class TokenCheckUnavailable(Exception):
    """The token is well signed, but whether it was revoked can't be known right now."""


@dataclass
class _Verified:
    identity: Identity
    expires_at: float  # epoch seconds
    checked_at: float  # monotonic: when the users service last said the token is active


class _BoundedSet:
    """The most recently seen `size` keys."""

    def __init__(self, size: int):
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)


class TokenVerifier:
    def __init__(
        self,
        fetch_json: FetchJson,
        *,
        issuer: str,
        audience: str,
        revocation_poll_seconds: float = 2.0,
        status_ttl_seconds: float = 300.0,
        jwks_min_refresh_seconds: float = 10.0,
        leeway_seconds: int = 10,
        verified_cache_size: int = 10_000,
        revoked_cache_size: int = 10_000,
    ):
        self._fetch_json = fetch_json
        self.issuer = issuer
        self.audience = audience
        self.revocation_poll_seconds = revocation_poll_seconds
        self.status_ttl = status_ttl_seconds
        self.jwks_min_refresh_seconds = jwks_min_refresh_seconds
        self.leeway = leeway_seconds
        self._keys: dict[str, AllowedPublicKeys] = {}
        self._jwks_fetched_at = 0.0
        self._jwks_lock = asyncio.Lock()
        self._revoked = _BoundedSet(revoked_cache_size)
        self._cursor: int | None = None  # None until the feed's position is known
        self._feed_ok_at = 0.0
        self._task: asyncio.Task[None] | None = None
        # token text -> what was verified, least recently used first; and each token id's text
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        self._token_of: dict[str, str] = {}
        self._verified_cache_size = verified_cache_size
        # One lookup per token id at a time, however many requests carry it at that moment.
        self._lookups: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # Called with a token id the moment its revocation is seen (the open streams close).
        self.on_revoked: list[Callable[[str], None]] = []

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
            if cached.expires_at + self.leeway < time.time():
                self._forget(token)
                return None
            if time.monotonic() - cached.checked_at <= self.status_ttl:
                self._verified.move_to_end(token)
                return cached.identity
        identity, expires_at = await self._verify(token) if cached is None else (cached.identity, 0.0)
        if identity is None or identity.token_id is None:
            return None
        if not await self._is_active(identity.token_id, stale=cached is not None):
            self._forget(token)
            return None
        if cached is not None:
            cached.checked_at = time.monotonic()
            self._verified.move_to_end(token)
            return identity
        self._remember(token, _Verified(identity, expires_at, time.monotonic()))
        return identity

    def _remember(self, token: str, verified: _Verified) -> None:
        self._verified[token] = verified
        assert verified.identity.token_id is not None
        self._token_of[verified.identity.token_id] = token
        while len(self._verified) > self._verified_cache_size:
            _, old = self._verified.popitem(last=False)
            self._token_of.pop(old.identity.token_id or "", None)

    def _forget(self, token: str) -> None:
        gone = self._verified.pop(token, None)
        if gone is not None:
            self._token_of.pop(gone.identity.token_id or "", None)

    async def _is_active(self, jti: str, *, stale: bool) -> bool:
        """Whether the users service says the token is live. `stale`: the token was active when
        last asked; if the question can't be asked now, that answer stands."""
        if jti in self._revoked:
            return False
        lookup = self._lookups.get(jti)
        if lookup is None:
            lookup = self._lookups[jti] = asyncio.ensure_future(self._fetch_json(TOKEN_STATUS_PATH + jti))
            lookup.add_done_callback(lambda _: self._lookups.pop(jti, None))
        try:
            status = await asyncio.shield(lookup)
        except Exception as exc:
            if stale:
                log.warning("token_status_unavailable_kept", error=str(exc))
                return True
            log.warning("token_status_unavailable", error=str(exc))
            raise TokenCheckUnavailable(
                "The users service is unavailable: the access token can't be checked"
            ) from exc
        if not status.get("active"):
            self._revoked.add(jti)
            return False
        return True

    async def _verify(self, token: str) -> tuple[Identity | None, float]:
        """The identity a token carries, and until when, after the signature and claims check."""
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
        sub = claims.get("sub") or ""
        identity = Identity(
            user_id=int(sub) if str(sub).isdigit() else None,
            scopes=frozenset(str(claims.get("scope", "")).split()),
            app_id=str(claims["client_id"]) if claims.get("client_id") else None,
            token_id=str(claims["jti"]),
            application_id=_int_claim(claims.get("app")),
        )
        return identity, float(claims["exp"])

    async def _key_for(self, kid: str | None) -> AllowedPublicKeys | None:
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
        if self._cursor is None:
            # Where the feed is now: what was revoked before is answered by the status lookups.
            page = await self._fetch_json(f"{REVOCATIONS_PATH}?latest=true")
            self._cursor = int(page.get("next_cursor", 0))
            self._feed_ok_at = time.monotonic()
            return
        while True:
            page = await self._fetch_json(f"{REVOCATIONS_PATH}?after={self._cursor}&limit={FEED_PAGE}")
            oldest = page.get("oldest_cursor")
            if oldest is not None and int(oldest) > self._cursor + 1:
                # The feed was pruned past our position while we couldn't read it: whatever we
                # remember may have been revoked since. Ask again for every token.
                log.warning("token_revocation_feed_gap", cursor=self._cursor, oldest=oldest)
                self._verified.clear()
                self._token_of.clear()
            entries = page.get("revocations", [])
            for entry in entries:
                self.revoked(str(entry["jti"]))
            self._cursor = int(page.get("next_cursor", self._cursor))
            if len(entries) < FEED_PAGE:
                break
        self._feed_ok_at = time.monotonic()

    def revoked(self, jti: str) -> None:
        """A token was revoked: refuse it from now on and end what it holds open."""
        self._revoked.add(jti)
        token = self._token_of.pop(jti, None)
        if token is not None:
            self._verified.pop(token, None)
        for callback in self.on_revoked:
            callback(jti)


def _int_claim(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None
