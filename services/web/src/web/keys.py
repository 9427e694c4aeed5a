"""The keys the web service signs and encrypts with, each derived from one secret for one purpose
(so a value made for one use is worthless for another)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer


def _derive(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"microblog-web:{purpose}".encode(), hashlib.sha256).digest()


def new_key() -> str:
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Keys:
    def __init__(self, secret: str):
        self._cookie = Signer(_derive(secret, "session-cookie"), salt="session")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, "stored-secrets")))
        self._csrf = _derive(secret, "csrf")
        self._serializer_key = _derive(secret, "signed-values")

    # -- the session cookie: a random key, signed ------------------------------------------

    def sign_cookie(self, key: str) -> str:
        return self._cookie.sign(key).decode()

    def cookie_key(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            return self._cookie.unsign(cookie).decode()
        except BadSignature:
            return None

    # -- secrets at rest (access tokens, the OAuth client secret) ---------------------------

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str | None:
        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            return None

    # -- CSRF: a token only a page we served can carry ---------------------------------------

    def csrf_token(self, secret: str) -> str:
        return hmac.new(self._csrf, secret.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, secret: str | None, submitted: str | None) -> bool:
        if not secret or not submitted:
            return False
        return hmac.compare_digest(self.csrf_token(secret), submitted)

    # -- short-lived signed values (the pending sign-in, flash messages) ---------------------

    def serializer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._serializer_key, salt=salt)
