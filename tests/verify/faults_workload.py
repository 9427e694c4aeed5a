"""The faults suite's workload and its ground truth.

Accounts are registered through the gateway; concurrent clients (httpx, async) then post (with
mentions and replies), follow, unfollow, favourite, edit and delete through it. Every operation is
retried as a client would while the system answers 502/503/504 or the connection fails, and counts
only once it got a 2xx: what was acknowledged is recorded in `Truth`, and every expectation the
checks compare the system with is derived from it, never read back from the system under test.

Each client owns its accounts (every operation *by* an account comes from one client, one at a
time), so the order of an author's edits and deletes and of a follower's follows is known."""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

PASSWORD = "correct horse battery staple"
SCOPES = "read write follow"
# A word no other text holds (letters and digits: one word for the search analyser).
TOKEN = re.compile(r"\btk[0-9a-f]{12}\b")
RETRIED_STATUSES = (502, 503, 504)
# How long one operation is retried before the run fails (a fault lasts seconds).
RETRY_FOR_SECONDS = 180.0


def new_token() -> str:
    return "tk" + secrets.token_hex(6)


@dataclass
class Account:
    username: str
    id: str
    token: str
    email: str


@dataclass
class Status:
    id: str
    author: str
    token: str
    mentions: frozenset[str]
    reply_to_account: str | None
    deletable: bool
    old_tokens: list[str] = field(default_factory=list)
    deleted: bool = False

    @property
    def is_reply(self) -> bool:
        return self.reply_to_account is not None


@dataclass
class Truth:
    """What the clients were told happened (2xx answers), and how they got there."""

    accounts: dict[str, Account] = field(default_factory=dict)
    statuses: dict[str, Status] = field(default_factory=dict)
    # (follower, followee) -> following after the last acknowledged follow/unfollow.
    follows: dict[tuple[str, str], bool] = field(default_factory=dict)
    favourites: set[tuple[str, str]] = field(default_factory=set)  # (account, status)
    operations: Counter[str] = field(default_factory=Counter)
    # Answers that were retried (by status, "transport" for a failed connection), and any other
    # 5xx seen: the standards allow a 503 with Retry-After during a fault, never a 500.
    retried: Counter[str] = field(default_factory=Counter)
    server_errors: Counter[int] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.operations.values())

    def live(self) -> list[Status]:
        return [s for s in self.statuses.values() if not s.deleted]

    def following(self, follower: str) -> set[str]:
        return {b for (a, b), on in self.follows.items() if a == follower and on}


class Client:
    """One client of the gateway: retries what a fault makes fail, as a well-behaved client does."""

    def __init__(self, http: httpx.AsyncClient, truth: Truth):
        self.http = http
        self.truth = truth

    async def call(
        self, method: str, path: str, token: str | None = None, **kwargs: object
    ) -> tuple[httpx.Response, bool]:
        """The answer (2xx or a 4xx), and whether an earlier attempt may have reached the service
        (a timeout, a cut connection or a gateway that lost the upstream mid-request)."""
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if token:
            headers["Authorization"] = f"Bearer {token}"
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        ambiguous = False
        delay = 0.2
        while True:
            try:
                response = await self.http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                self.truth.retried["transport"] += 1
                ambiguous = ambiguous or not isinstance(exc, httpx.ConnectError)
                last = repr(exc)
            else:
                if response.status_code not in RETRIED_STATUSES and response.status_code < 500:
                    return response, ambiguous
                if response.status_code in RETRIED_STATUSES:
                    self.truth.retried[str(response.status_code)] += 1
                    ambiguous = ambiguous or response.status_code != 503
                else:
                    self.truth.server_errors[response.status_code] += 1
                    ambiguous = True
                last = f"{response.status_code} {response.text[:300]}"
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    delay = min(float(retry_after), 2.0)
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path} never succeeded in {RETRY_FOR_SECONDS}s: {last}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def register(http: httpx.AsyncClient, truth: Truth, username: str) -> Account:
    client = Client(http, truth)
    app, _ = await client.call(
        "POST",
        "/api/v1/apps",
        data={"client_name": "faults", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": SCOPES},
    )
    credentials = app.json()
    app_token, _ = await client.call(
        "POST",
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "scope": SCOPES,
        },
    )
    email = f"{username}@example.com"
    registered, _ = await client.call(
        "POST",
        "/api/v1/accounts",
        app_token.json()["access_token"],
        data={
            "username": username,
            "email": email,
            "password": PASSWORD,
            "agreement": "true",
            "locale": "en",
        },
    )
    assert registered.status_code == 200, registered.text
    token = registered.json()["access_token"]
    me, _ = await client.call("GET", "/api/v1/accounts/verify_credentials", token)
    assert me.status_code == 200, me.text
    account = Account(username=username, id=me.json()["id"], token=token, email=email)
    truth.accounts[account.id] = account
    return account


class Workload:
    """At least `operations` operations by `clients` concurrent clients; `progress(done)` is called
    after each (the fault schedule watches it)."""

    WEIGHTS = {"post": 40, "follow": 14, "unfollow": 6, "favourite": 20, "edit": 11, "delete": 9}

    def __init__(
        self,
        http: httpx.AsyncClient,
        truth: Truth,
        operations: int,
        clients: int,
        *,
        until: Callable[[], bool] = lambda: True,
        seed: int = 15,
    ):
        self.http = http
        # Clients go on past `operations` until `until()` holds: the faults all happen while
        # clients are at work, whatever the machine's speed.
        self.until = until
        self.truth = truth
        self.operations = operations
        self.clients = clients
        self.random = random.Random(seed)
        self.started = 0
        # Statuses others may reply to: never deleted, so a reply always has its parent.
        self.reply_targets: list[Status] = []

    async def run(self, progress: Callable[[int], None]) -> None:
        accounts = list(self.truth.accounts.values())
        owned = [accounts[i :: self.clients] for i in range(self.clients)]
        await asyncio.gather(*(self._client(mine, accounts, progress) for mine in owned if mine))

    async def _client(
        self, mine: list[Account], everyone: list[Account], progress: Callable[[int], None]
    ) -> None:
        client = Client(self.http, self.truth)
        kinds, weights = zip(*self.WEIGHTS.items(), strict=True)
        while self.started < self.operations or not self.until():
            self.started += 1
            account = self.random.choice(mine)
            kind = self.random.choices(kinds, weights)[0]
            done = await getattr(self, f"_{kind}")(client, account, everyone)
            if not done:  # nothing to do it on yet (no status to edit, no one to unfollow): a post
                await self._post(client, account, everyone)
                kind = "post"
            self.truth.operations[kind] += 1
            progress(self.truth.total)

    async def _post(self, client: Client, account: Account, everyone: list[Account]) -> bool:
        others = [a for a in everyone if a.id != account.id]
        mentioned = self.random.sample(others, self.random.choice((0, 0, 1, 2)))
        parent = None
        candidates = [s for s in self.reply_targets if s.author != account.id]
        if candidates and self.random.random() < 0.3:
            parent = self.random.choice(candidates)
        token = new_token()
        text = " ".join([token, *(f"@{a.username}" for a in mentioned), "under faults"])
        data = {"status": text} | ({"in_reply_to_id": parent.id} if parent else {})
        # The same key on every retry: a post the service took before the connection failed is
        # answered, not made twice.
        response, _ = await client.call(
            "POST",
            "/api/v1/statuses",
            account.token,
            data=data,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 200, response.text
        status = Status(
            id=response.json()["id"],
            author=account.id,
            token=token,
            mentions=frozenset(a.id for a in mentioned),
            reply_to_account=parent.author if parent else None,
            deletable=self.random.random() < 0.35,
        )
        self.truth.statuses[status.id] = status
        if not status.deletable:
            self.reply_targets.append(status)
        return True

    async def _follow(self, client: Client, account: Account, everyone: list[Account]) -> bool:
        target = self.random.choice([a for a in everyone if a.id != account.id])
        response, _ = await client.call("POST", f"/api/v1/accounts/{target.id}/follow", account.token)
        assert response.status_code == 200, response.text
        self.truth.follows[(account.id, target.id)] = True
        return True

    async def _unfollow(self, client: Client, account: Account, everyone: list[Account]) -> bool:
        followed = sorted(self.truth.following(account.id))
        if not followed:
            return False
        target = self.random.choice(followed)
        response, _ = await client.call("POST", f"/api/v1/accounts/{target}/unfollow", account.token)
        assert response.status_code == 200, response.text
        self.truth.follows[(account.id, target)] = False
        return True

    async def _favourite(self, client: Client, account: Account, everyone: list[Account]) -> bool:
        candidates = [s for s in self.truth.live() if s.author != account.id]
        if not candidates:
            return False
        status = self.random.choice(candidates[-300:])  # recent ones, as people favourite
        response, _ = await client.call("POST", f"/api/v1/statuses/{status.id}/favourite", account.token)
        if response.status_code == 404 and status.deletable:  # its author deleted it meanwhile
            return True
        assert response.status_code == 200, response.text
        self.truth.favourites.add((account.id, status.id))
        return True

    async def _edit(self, client: Client, account: Account, everyone: list[Account]) -> bool:
        mine = [s for s in self.truth.live() if s.author == account.id]
        if not mine:
            return False
        status = self.random.choice(mine)
        token = new_token()
        usernames = [self.truth.accounts[m].username for m in sorted(status.mentions)]
        text = " ".join([token, *(f"@{u}" for u in usernames), "edited under faults"])
        response, _ = await client.call(
            "PUT", f"/api/v1/statuses/{status.id}", account.token, data={"status": text}
        )
        assert response.status_code == 200, response.text
        status.old_tokens.append(status.token)
        status.token = token
        return True

    async def _delete(self, client: Client, account: Account, everyone: list[Account]) -> bool:
        mine = [s for s in self.truth.live() if s.author == account.id and s.deletable]
        if not mine:
            return False
        status = self.random.choice(mine)
        response, ambiguous = await client.call("DELETE", f"/api/v1/statuses/{status.id}", account.token)
        # A 404 after an attempt that may have reached the service: that attempt deleted it.
        assert response.status_code == 200 or (ambiguous and response.status_code == 404), response.text
        status.deleted = True
        return True
