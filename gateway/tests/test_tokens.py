"""Token verification against a real Ed25519 key set, token statuses and revocation feed (served
from memory, shaped as the users service serves them): every forgery the accounts issue lists is
refused, rotation and revocation work, and what the gateway keeps is bounded."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.tokens import TokenCheckUnavailable, TokenVerifier

ISSUER, AUDIENCE = "microblog-users", "microblog"


class KeyServer:
    """What the users service publishes: the JWKS and the revocation feed."""

    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.revocations: list[dict] = []
        self.pruned_before = 0  # feed rows with a cursor at or below this are gone
        self.jwks_fetches = 0
        self.fetches: list[str] = []
        self.down = False
        self.add_key("k1")

    def add_key(self, kid: str) -> None:
        self.keys[kid] = Ed25519PrivateKey.generate()

    def public_pem(self, kid: str) -> bytes:
        return (
            self.keys[kid]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    def jwks(self) -> dict:
        keys = []
        for kid, key in self.keys.items():
            raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
            keys.append({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
        return {"keys": keys}

    def token(self, kid: str = "k1", **overrides) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "42",
            "jti": uuid.uuid4().hex,
            "scope": "read write",
            "client_id": "app-1",
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.keys[kid], algorithm="EdDSA", headers={"kid": kid})

    @property
    def revoked_jtis(self) -> set[str]:
        return {r["jti"] for r in self.revocations}

    async def fetch(self, target: str) -> dict:
        if self.down:
            raise ConnectionError("users service unreachable")
        self.fetches.append(target)
        if target.startswith("/.well-known/jwks.json"):
            self.jwks_fetches += 1
            return self.jwks()
        if target.startswith("/internal/tokens/"):
            jti = target.rsplit("/", 1)[1]
            return {"jti": jti, "active": jti not in self.revoked_jtis}
        kept = [r for r in self.revocations if r["cursor"] > self.pruned_before]
        oldest = kept[0]["cursor"] if kept else None
        if "latest=true" in target:
            return {"revocations": [], "next_cursor": len(self.revocations), "oldest_cursor": oldest}
        after = int(target.split("after=")[1].split("&")[0])
        page = [r for r in kept if r["cursor"] > after]
        return {
            "revocations": page,
            "next_cursor": page[-1]["cursor"] if page else after,
            "oldest_cursor": oldest,
        }

    def revoke(self, token: str) -> None:
        claims = jwt.decode(token, options={"verify_signature": False})
        self.revocations.append(
            {"cursor": len(self.revocations) + 1, "jti": claims["jti"], "expires_at": None}
        )

    def status_lookups(self) -> int:
        return sum(1 for f in self.fetches if f.startswith("/internal/tokens/"))


@pytest.fixture
async def setup():
    server = KeyServer()
    verifier = TokenVerifier(server.fetch, issuer=ISSUER, audience=AUDIENCE, jwks_min_refresh_seconds=0)
    await verifier.start()
    yield server, verifier
    await verifier.stop()


async def test_a_valid_token_gives_the_identity(setup):
    server, verifier = setup
    identity = await verifier.authenticate(server.token())
    assert identity.user_id == 42 and identity.scopes == {"read", "write"} and identity.app_id == "app-1"


async def test_app_tokens_have_no_user(setup):
    server, verifier = setup
    identity = await verifier.authenticate(server.token(sub=None, scope="read"))
    assert identity is not None and identity.user_id is None


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_forgeries_are_refused(setup):
    server, verifier = setup
    good = jwt.decode(server.token(), options={"verify_signature": False})
    unsigned = f"{_b64({'alg': 'none', 'kid': 'k1', 'typ': 'JWT'})}.{_b64(good)}."
    assert await verifier.authenticate(unsigned) is None
    # HMAC "signed" with the public key, the classic algorithm-confusion attack.
    hmac_header = _b64({"alg": "HS256", "kid": "k1", "typ": "JWT"})
    signing_input = f"{hmac_header}.{_b64(good)}".encode()
    mac = hmac.new(server.public_pem("k1"), signing_input, hashlib.sha256).digest()
    confused = f"{signing_input.decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert await verifier.authenticate(confused) is None
    assert await verifier.authenticate(server.token(iss="someone-else")) is None
    assert await verifier.authenticate(server.token(aud="other-audience")) is None
    assert (
        await verifier.authenticate(server.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200))
        is None
    )
    assert await verifier.authenticate(server.token(jti=None)) is None
    stranger = Ed25519PrivateKey.generate()
    assert (
        await verifier.authenticate(jwt.encode(good, stranger, algorithm="EdDSA", headers={"kid": "k9"}))
        is None
    )
    assert (
        await verifier.authenticate(jwt.encode(good, stranger, algorithm="EdDSA", headers={"kid": "k1"}))
        is None
    )
    assert await verifier.authenticate("not-a-jwt") is None


async def test_rotation_keeps_old_tokens_and_accepts_new_ones(setup):
    server, verifier = setup
    old = server.token("k1")
    server.add_key("k2")
    new = server.token("k2")
    assert (await verifier.authenticate(new)).user_id == 42  # unknown kid -> keys fetched again
    assert (await verifier.authenticate(old)).user_id == 42


async def test_unknown_key_ids_do_not_hammer_the_key_server():
    server = KeyServer()
    verifier = TokenVerifier(server.fetch, issuer=ISSUER, audience=AUDIENCE, jwks_min_refresh_seconds=60)
    await verifier.start()
    stranger = Ed25519PrivateKey.generate()
    for n in range(20):
        token = jwt.encode({"sub": "1"}, stranger, algorithm="EdDSA", headers={"kid": f"made-up-{n}"})
        assert await verifier.authenticate(token) is None
    assert server.jwks_fetches == 1
    await verifier.stop()


async def test_revoked_tokens_stop_working_within_the_poll_interval():
    server = KeyServer()
    verifier = TokenVerifier(server.fetch, issuer=ISSUER, audience=AUDIENCE, revocation_poll_seconds=0.1)
    await verifier.start()
    token, other = server.token(), server.token()
    assert await verifier.authenticate(token) is not None
    server.revoke(token)
    deadline = time.monotonic() + 5
    while await verifier.authenticate(token) is not None:
        assert time.monotonic() < deadline, "revocation not seen within 5 s"
        await asyncio.sleep(0.05)
    assert await verifier.authenticate(other) is not None
    await verifier.stop()


async def test_a_verified_token_is_checked_once_then_remembered(setup, monkeypatch):
    server, verifier = setup
    decodes = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **kw: decodes.append(1) or real_decode(*a, **kw))
    token = server.token()
    for _ in range(3):
        assert (await verifier.authenticate(token)).user_id == 42
    assert len(decodes) == 1
    # A forgery is never remembered: each attempt is checked in full.
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        assert await verifier.authenticate(forged) is None
    assert len(decodes) == 3


async def test_a_remembered_token_still_expires_and_can_be_revoked(setup, monkeypatch):
    server, verifier = setup
    now = time.time()
    short = server.token(exp=int(now) + 60)
    assert await verifier.authenticate(short) is not None
    monkeypatch.setattr(time, "time", lambda: now + 60 + verifier.leeway + 1)
    assert await verifier.authenticate(short) is None
    monkeypatch.undo()
    token = server.token()
    assert await verifier.authenticate(token) is not None
    server.revoke(token)
    await verifier._poll_revocations()
    assert await verifier.authenticate(token) is None


async def test_the_remembered_tokens_are_bounded():
    server = KeyServer()
    verifier = TokenVerifier(server.fetch, issuer=ISSUER, audience=AUDIENCE, verified_cache_size=2)
    await verifier.start()
    tokens = [server.token(sub=str(n)) for n in range(3)]
    for token in tokens:
        assert await verifier.authenticate(token) is not None
    assert list(verifier._verified) == tokens[1:]  # the least recently used one left
    assert (await verifier.authenticate(tokens[0])).user_id == 0  # and is simply checked again
    await verifier.stop()


async def test_start_reads_no_history_and_a_token_revoked_before_it_is_refused():
    """However many tokens were ever revoked, the gateway starts from where the feed is now; a
    token revoked before it started is refused because its status is looked up."""
    server = KeyServer()
    old_revoked = [server.token() for _ in range(50)]
    for token in old_revoked:
        server.revoke(token)
    verifier = TokenVerifier(server.fetch, issuer=ISSUER, audience=AUDIENCE)
    await verifier.start()
    assert [f for f in server.fetches if "token-revocations" in f] == [
        "/internal/token-revocations?latest=true"
    ]
    assert len(verifier._revoked) == 0
    assert await verifier.authenticate(old_revoked[0]) is None
    assert await verifier.authenticate(server.token()) is not None
    await verifier.stop()


async def test_a_token_is_looked_up_once_however_many_requests_carry_it(setup):
    server, verifier = setup
    token = server.token()
    results = await asyncio.gather(*(verifier.authenticate(token) for _ in range(20)))
    assert all(r is not None and r.user_id == 42 for r in results)
    assert server.status_lookups() == 1
    revoked = server.token()
    server.revoke(revoked)
    for _ in range(3):  # a replayed revoked token costs one lookup, then it is remembered
        assert await verifier.authenticate(revoked) is None
    assert server.status_lookups() == 2


async def test_remembered_answers_are_asked_again_after_their_lifetime():
    server = KeyServer()
    verifier = TokenVerifier(server.fetch, issuer=ISSUER, audience=AUDIENCE, status_ttl_seconds=0.2)
    await verifier.start()
    token = server.token()
    assert await verifier.authenticate(token) is not None
    # Revoked without the feed telling (say its rows were pruned): the next lookup finds out.
    server.revocations.append(
        {"cursor": 0, "jti": jwt.decode(token, options={"verify_signature": False})["jti"]}
    )
    assert await verifier.authenticate(token) is not None  # still remembered
    await asyncio.sleep(0.3)
    assert await verifier.authenticate(token) is None
    await verifier.stop()


async def test_users_down_a_remembered_token_works_a_new_one_cannot_be_checked(setup):
    server, verifier = setup
    known = server.token()
    assert await verifier.authenticate(known) is not None
    server.down = True
    verifier.status_ttl = 0  # even past its lifetime, the last answer stands while users is down
    assert (await verifier.authenticate(known)).user_id == 42
    with pytest.raises(TokenCheckUnavailable):
        await verifier.authenticate(server.token())


async def test_a_revocation_on_the_feed_ends_the_tokens_streams_at_once(setup):
    server, verifier = setup
    ended: list[str] = []
    verifier.on_revoked.append(ended.append)
    token = server.token()
    jti = (await verifier.authenticate(token)).token_id
    server.revoke(token)
    await verifier._poll_revocations()
    assert ended == [jti]
    assert await verifier.authenticate(token) is None


async def test_a_gap_in_the_feed_makes_every_remembered_token_looked_up_again(setup):
    server, verifier = setup
    token = server.token()
    assert await verifier.authenticate(token) is not None
    lookups = server.status_lookups()
    # While the gateway couldn't read the feed, revocations came and their rows were pruned.
    for other in [server.token() for _ in range(3)]:
        server.revoke(other)
    server.pruned_before = 2
    await verifier._poll_revocations()
    assert await verifier.authenticate(token) is not None
    assert server.status_lookups() == lookups + 1
