"""Argon2id password hashing (argon2-cffi). Verification costs the same whether or not the account
exists, so response times don't reveal which addresses have accounts."""

from __future__ import annotations

import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from users.settings import Settings

MIN_PASSWORD_LENGTH = 8
# bcrypt's and Devise's practical limit; longer inputs are refused rather than hashed for minutes.
MAX_PASSWORD_LENGTH = 128


class Passwords:
    def __init__(self, settings: Settings):
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._dummy_hash: str | None = None
        self._slots = threading.BoundedSemaphore(settings.password_hash_concurrency)

    def hash(self, password: str) -> str:
        with self._slots:
            return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """`password_hash` None (no such account) still spends one verification's time."""
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash("not a password of anyone")
            password_hash = self._dummy_hash
            password = password + "\0"  # never matches the dummy
        try:
            with self._slots:
                return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)
