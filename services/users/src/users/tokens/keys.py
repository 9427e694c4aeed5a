"""Ed25519 signing keys: kept in the database (or given as TOKEN_SIGNING_KEY), published as a JWKS.

Rotation adds a new key and retires the others. A retired key no longer signs but stays in the
JWKS until the last token it can have signed has expired, so rotating signs nobody out. Each
replica re-reads the active key every `signing_key_cache_seconds`."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from microblog_common.db import Database
from users.settings import Settings
from users.tokens import repository

ALGORITHM = "EdDSA"
# A replica may keep signing with a just-retired key for one cache period: keep publishing it a
# little longer than the token lifetime.
PUBLICATION_MARGIN = timedelta(days=1)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: sha256 over the required members, sorted, without whitespace."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("TOKEN_SIGNING_KEY must be an Ed25519 private key (PKCS#8 PEM)")
    return key


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def generate_private_pem() -> str:
    return private_pem(Ed25519PrivateKey.generate())


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: Ed25519PrivateKey


def add_key(session: Session, pem: str, *, retire_others: bool) -> str:
    """Store the key in `pem` (if new) as the signing key; returns its kid."""
    key = load_private_key(pem)
    jwk = public_jwk(key.public_key())
    kid = thumbprint(jwk)
    now = datetime.now(UTC)
    existing = repository.get_signing_key(session, kid)
    if existing is None:
        repository.add_signing_key(
            session,
            kid=kid,
            algorithm=ALGORITHM,
            private_key_pem=private_pem(key),
            public_jwk=jwk,
            created_at=now,
        )
    elif existing.retired_at is not None:
        existing.retired_at = None
        existing.created_at = now  # it becomes the newest, hence the active one
    if retire_others:
        repository.retire_signing_keys_except(session, kid, now)
    session.flush()
    return kid


def rotate_signing_key(session: Session, pem: str | None = None) -> str:
    """The management operation: a new key signs from now on (on every replica within
    `signing_key_cache_seconds`); tokens signed by the older keys stay valid."""
    return add_key(session, pem or generate_private_pem(), retire_others=True)


class KeyRing:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._active: ActiveKey | None = None
        self._loaded_at = 0.0
        self._db: Database | None = None

    def bind(self, db: Database) -> None:
        """Called at start-up, once the database exists. Key loading uses its own short
        transactions so a new key is committed whatever becomes of the request that needed it."""
        self._db = db

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("KeyRing used before start-up")
        return self._db

    def ensure(self) -> str:
        """At start-up: import TOKEN_SIGNING_KEY, or generate a key when there is none."""
        with self.db.unit_of_work() as session:
            repository.lock_signing_keys(session)
            configured = self.settings.token_signing_key
            if configured is not None:
                return add_key(session, configured.get_secret_value(), retire_others=True)
            current = repository.newest_active_signing_key(session)
            if current is not None:
                return current.kid
            return add_key(session, generate_private_pem(), retire_others=False)

    def active(self, session: Session | None = None) -> ActiveKey:
        """The key to sign with, re-read once the cached one is older than
        `signing_key_cache_seconds`. A request passes its own session: re-reading through a second
        connection while holding one would let a burst of sign-ins take the whole pool and wait
        on each other for good."""
        with self._lock:
            current, loaded_at = self._active, self._loaded_at
        if current is not None and time.monotonic() - loaded_at < self.settings.signing_key_cache_seconds:
            return current
        active = self._read(session) if session is not None else self._load()
        if active is None:  # no key yet (only before start-up finished): make one
            self.ensure()
            active = self._load()
            assert active is not None
        with self._lock:
            self._active, self._loaded_at = active, time.monotonic()
        return active

    def _load(self) -> ActiveKey | None:
        with self.db.unit_of_work() as session:
            return self._read(session)

    @staticmethod
    def _read(session: Session) -> ActiveKey | None:
        row = repository.newest_active_signing_key(session)
        return None if row is None else ActiveKey(row.kid, load_private_key(row.private_key_pem))

    def forget(self) -> None:
        """The next caller re-reads the key (what SIGNING_KEY_CACHE_SECONDS does on its own)."""
        with self._lock:
            self._active = None
            self._loaded_at = 0.0

    def published(self, session: Session) -> list[dict[str, Any]]:
        """The JWKS `keys`: the active key and every retired key whose tokens may still be alive."""
        horizon = datetime.now(UTC) - timedelta(seconds=self.settings.access_token_lifetime_seconds)
        rows = repository.published_signing_keys(session, retired_after=horizon - PUBLICATION_MARGIN)
        return [{**row.public_jwk, "kid": row.kid, "alg": row.algorithm, "use": "sig"} for row in rows]

    def verification_key(self, session: Session, kid: str) -> Ed25519PublicKey | None:
        row = repository.get_signing_key(session, kid)
        if row is None:
            return None
        return load_private_key(row.private_key_pem).public_key()
