"""The attack rows of `make verify`: one microblog with a process per service over PostgreSQL and
RabbitMQ, a victim with things worth stealing (a followers-only and a direct post, an edit, a
favourite, a scheduled post, notifications, markers, an authorised app, a web session) and an
attacker with accounts, tokens and a browser of their own.

Each row is one attack class, parametrized over every endpoint of the public API (from the
services' own routers, checked against the gateway's `/api/openapi.json`) or every page and form
of the web UI (from the web service's routers), so a new endpoint is attacked without a change
here."""

from __future__ import annotations

import itertools
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote, urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from devstack.servers import PostgresServer, RabbitMQServer
from devstack.stack import LocalStack
from devstack.translation_providers import MicrosoftTranslator
from microblog_common.internal_auth import Identity, sign_request
from notify.streaming.connections import STREAM_SCOPES
from notify.streaming.endpoints import SSE_CHANNELS
from tests.e2e.conftest import TRANSLATOR_KEY, TRANSLATOR_REGION, eventually, translate_env
from tests.e2e.test_mastodon_accounts import signing_key
from tests.verify.attack_support import (
    OOB,
    OPEN_PREFIXES,
    PASSWORD,
    Account,
    Forger,
    Operation,
    WebRoute,
    api_operations,
    bearer,
    browser,
    csrf_token,
    describe,
    fill,
    is_error,
    live_operations,
    make_app,
    register,
    runs_no_code_of,
    stays_on_site,
    token_claims,
    web_routes,
    web_sign_in,
)

API = api_operations()
NEEDS_TOKEN = [op for op in API if op.auth == "required"]
TOKEN_READ = [op for op in API if not op.path.startswith(OPEN_PREFIXES)]
WITH_BODY = [op for op in API if op.has_body or op.method in ("PUT", "PATCH")]
WEB = web_routes()
WEB_PAGES = [r for r in WEB if r.method == "GET" and r.path not in ("/stream",)]
WEB_FORMS = [r for r in WEB if r.method == "POST"]

# The gateway as the e2e suite runs it (many accounts from 127.0.0.1, thousands of requests per
# token), trusting this machine as a proxy so a row can speak for a client address of its own.
# The limits themselves are attacked on a second gateway with the product's defaults (last row).
GATEWAY_ENV = {
    "RATE_LIMIT_REGISTRATION": "1000/minute",
    "RATE_LIMIT_SIGN_IN": "1000/minute",
    "RATE_LIMIT_DEFAULT": "100000/5 minutes",
    "RATE_LIMIT_PAGES": "100000/5 minutes",
    "TRUSTED_PROXIES": "127.0.0.1",
}


@dataclass
class World:
    stack: LocalStack
    url: str
    api: httpx.Client
    victim: Account
    attacker: Account
    author: Account  # writes the payloads and follows the redirects
    values: dict[str, str]  # path parameters: the victim's things
    private: dict[str, str]  # status id -> the unique word only its audience may read
    forger: Forger
    direct: httpx.Client  # to the services themselves, bypassing the gateway
    facts: dict[str, Any] = field(default_factory=dict)

    def call(
        self, op: Operation | WebRoute, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        path = fill(op.path, self.values)
        if isinstance(op, Operation) and (op.has_body or op.method in ("PUT", "PATCH", "POST")):
            kwargs.setdefault("json", {})
        return self.api.request(op.method, path, headers=headers, **kwargs)

    def form_token(self, account: Account) -> str:
        """The CSRF token of the account's browser session (one per session, fetched once)."""
        key = f"form token {account.username}"
        if key not in self.facts:
            assert account.browser is not None
            self.facts[key] = csrf_token(account.browser.get("/home").text)
        return str(self.facts[key])

    def victim_before(self, row: str) -> dict[str, Any]:
        """The victim's state when `row` began (its cases, in a row, may each change nothing)."""
        if row not in self.facts:
            self.facts[row] = victim_state(self)
        state: dict[str, Any] = self.facts[row]
        return state

    def as_victim(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.api.request(method, path, headers=self.victim.auth, **kwargs)

    def as_attacker(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.api.request(method, path, headers=self.attacker.auth, **kwargs)


def _post(world_api: httpx.Client, account: Account, body: dict[str, Any]) -> str:
    r = world_api.post("/api/v1/statuses", headers=account.auth, json=body)
    assert r.status_code == 200, describe(r)
    return str(r.json()["id"])


def victim_state(world: World) -> dict[str, Any]:
    """Everything of the victim's an attack could change: equal before and after one that failed."""
    me = world.as_victim("GET", "/api/v1/accounts/verify_credentials").json()
    posts = world.as_victim("GET", f"/api/v1/accounts/{world.victim.id}/statuses").json()
    notes = world.as_victim("GET", "/api/v1/notifications").json()
    markers = world.as_victim("GET", "/api/v1/markers", params={"timeline[]": "home"}).json()
    return {
        "profile": {
            k: me[k] for k in ("display_name", "note", "locked", "following_count", "statuses_count")
        },
        "source": me["source"],
        "posts": [(p["id"], p["content"], p["spoiler_text"], p["favourites_count"]) for p in posts],
        "scheduled": world.as_victim("GET", "/api/v1/scheduled_statuses").json(),
        "notifications": [n["id"] for n in notes],
        "marker": markers.get("home", {}).get("last_read_id"),
        "email": world.as_victim("GET", "/api/v1/notifications/email_preferences").json(),
        "apps": [a["id"] for a in world.as_victim("GET", "/oauth/authorized_applications").json()],
        "token": _token_active(world, world.victim.token),
    }


def _token_active(world: World, token: str) -> bool:
    """What the users service itself says of the token (the gateway follows it within seconds)."""
    path = f"/internal/tokens/{token_claims(token)['jti']}"
    headers = sign_request(world.stack.internal_secret, "GET", path, {})
    r = httpx.get(world.stack.service_urls["users"] + path, headers=headers, timeout=30)
    assert r.status_code == 200, describe(r)
    return bool(r.json()["active"])


@pytest.fixture(scope="module")
def world(postgres_server: PostgresServer, rabbitmq_server: RabbitMQServer) -> Iterator[World]:
    translator = MicrosoftTranslator(key=TRANSLATOR_KEY, region=TRANSLATOR_REGION)
    with (
        translator.serving() as translator_url,
        LocalStack(
            postgres=postgres_server,
            rabbitmq=rabbitmq_server,
            extra_env={"gateway": GATEWAY_ENV, "translate": translate_env(translator_url)},
        ) as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=30) as api,
        httpx.Client(timeout=30) as direct_client,
    ):
        # The catalogue the rows were parametrized with is the gateway's own document.
        collected = {(op.method, op.path) for op in API}
        live = set(live_operations(stack.gateway_url))
        assert live == collected, (sorted(live - collected), sorted(collected - live))

        victim_app, attacker_app, author_app = (make_app(api, f"attack-{n}") for n in ("v", "a", "w"))
        victim = register(api, victim_app, "victim")
        attacker = register(api, attacker_app, "attacker")
        author = register(api, author_app, "author")
        secret, direct_word = f"secretword{uuid.uuid4().hex[:8]}", f"directword{uuid.uuid4().hex[:8]}"
        public = _post(api, victim, {"status": "A public post #attack", "visibility": "public"})
        private = _post(api, victim, {"status": f"Followers only {secret} #attack", "visibility": "private"})
        direct = _post(api, victim, {"status": f"Only me {direct_word} #attack", "visibility": "direct"})
        edited = api.put(
            f"/api/v1/statuses/{private}",
            headers=victim.auth,
            json={"status": f"Followers only, edited {secret} #attack"},
        )
        assert edited.status_code == 200, describe(edited)
        assert api.post(f"/api/v1/statuses/{private}/favourite", headers=victim.auth).status_code == 200
        later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        scheduled = api.post(
            "/api/v1/statuses", headers=victim.auth, json={"status": f"Later {secret}", "scheduled_at": later}
        )
        assert scheduled.status_code == 200, describe(scheduled)
        # The attacker favourites the public post: the victim has a notification to steal.
        assert api.post(f"/api/v1/statuses/{public}/favourite", headers=attacker.auth).status_code == 200
        notes = eventually(
            lambda: api.get("/api/v1/notifications", headers=victim.auth).json(), lambda n: len(n) >= 1
        )
        groups = api.get("/api/v2/notifications", headers=victim.auth).json()["notification_groups"]
        marker = api.post("/api/v1/markers", headers=victim.auth, json={"home": {"last_read_id": public}})
        assert marker.status_code == 200, describe(marker)
        apps = api.get("/oauth/authorized_applications", headers=victim.auth).json()
        (victim_app_record,) = [a for a in apps if a["name"] == "attack-v"]
        values = {
            "account_id": victim.id,
            "status_id": private,
            "notification_id": str(notes[0]["id"]),
            "group_key": str(groups[0]["group_key"]),
            "scheduled_id": str(scheduled.json()["id"]),
            "application_id": str(victim_app_record["id"]),
            "hashtag": "attack",
            "tag": "attack",
            "name": "missing",
            "key": "missing",
            "username": victim.username,
            "public_id": public,
            "direct_id": direct,
        }
        kid, key = signing_key(stack.database_urls["users"])
        forger = Forger(token_claims(victim.token), kid, key)
        victim.browser = web_sign_in(stack.gateway_url, victim.username)
        attacker.browser = web_sign_in(stack.gateway_url, attacker.username)
        author.browser = web_sign_in(stack.gateway_url, author.username)
        try:
            yield World(
                stack,
                stack.gateway_url,
                api,
                victim,
                attacker,
                author,
                values,
                {private: secret, direct: direct_word},
                forger,
                direct_client,
            )
        finally:
            for account in (victim, attacker, author):
                if account.browser is not None:
                    account.browser.close()


RecordProperty = Callable[[str, object], None]


def _figures(record_property: RecordProperty, text: str) -> None:
    record_property("figures", text)


# == tokens ========================================================================================

REFUSED = (401, {"error": "The access token is invalid"})


@pytest.mark.parametrize("op", NEEDS_TOKEN, ids=lambda o: o.id)
def test_no_token(world: World, op: Operation, record_property: RecordProperty) -> None:
    """Tokens: every endpoint that needs a token refuses a request without one (401)"""
    _figures(record_property, f"{len(NEEDS_TOKEN)} endpoints")
    r = world.call(op)
    assert is_error(r, 401), describe(r)


SESSIONS = ("no session", "a forged session cookie")


@pytest.mark.parametrize("session", SESSIONS)
@pytest.mark.parametrize("page", WEB_PAGES, ids=lambda r: r.id)
def test_web_pages_without_a_session(
    world: World, page: WebRoute, session: str, record_property: RecordProperty
) -> None:
    """Web: every page without a session (or a forged one) sends to sign-in or shows only public posts"""
    _figures(record_property, f"{len(WEB_PAGES)} pages x {len(SESSIONS)}")
    with browser(world.url) as client:
        if session == "a forged session cookie":
            client.cookies.set("microblog_session", "forged." + uuid.uuid4().hex)
        values = {**world.values, "status_id": next(iter(world.private))}
        r = client.get(fill(page.path, values))
        assert r.status_code in (200, 303, 400, 404), describe(r)
        # Whatever it is, no script but ours may run in it, and no other site may frame it.
        assert "script-src 'self'" in r.headers.get("content-security-policy", ""), r.headers
        assert r.headers.get("x-frame-options") == "DENY", r.headers
        if r.status_code == 303:
            location = r.headers["location"]
            assert stays_on_site(location, world.url) or location.startswith(world.url), describe(r)
        assert not _leaks(world, r.text), describe(r)
        assert client.get("/home").status_code == 303  # no session came of it


def _forged(world: World, op: Operation, kind: str) -> None:
    token = world.forger.forgeries()[kind]
    r = world.call(op, bearer(token))
    assert (r.status_code, r.json()) == REFUSED, describe(r)


def _forgery_row(kind: str, doc: str) -> Callable[..., None]:
    @pytest.mark.parametrize("op", TOKEN_READ, ids=lambda o: o.id)
    def row(world: World, op: Operation, record_property: RecordProperty) -> None:
        _figures(record_property, f"{len(TOKEN_READ)} endpoints")
        _forged(world, op, kind)

    row.__doc__ = doc
    return cast(Callable[..., None], row)


def test_forgery_control(world: World, record_property: RecordProperty) -> None:
    """Tokens: the control: a token re-signed with the real key is accepted (each forgery has one flaw)"""
    r = world.api.get("/api/v1/accounts/verify_credentials", headers=bearer(world.forger.signed()))
    assert r.status_code == 200 and r.json()["id"] == world.victim.id, describe(r)
    _figures(record_property, "the control of the four forgery rows")


test_expired_token = _forgery_row("expired", "Tokens: an expired token is refused on every endpoint (401)")
test_wrong_signature = _forgery_row(
    "wrong signature",
    "Tokens: a token signed with a key of our own (the real key id) is refused on every endpoint (401)",
)
test_alg_none = _forgery_row(
    "alg none", "Tokens: an unsigned token (`alg: none`) is refused on every endpoint (401)"
)
test_wrong_audience = _forgery_row(
    "wrong audience", "Tokens: a token for another audience is refused on every endpoint (401)"
)


def _lacking_token(world: World, op: Operation) -> tuple[str, str] | None:
    """A token of the victim's that holds none of the scopes `op` accepts (and which it is)."""
    for name, token, scopes in (
        ("read", world.victim.read_token, {"read"}),
        ("write follow", world.victim.write_token, {"write", "follow"}),
    ):
        identity = Identity(user_id=1, scopes=frozenset(scopes), app_id=None, token_id="x")
        if not any(identity.has_scope(s) for s in op.scopes):
            return name, token
    return None


SCOPED = [op for op in API if op.scopes]
# What a write would change if the scope check let it through (fields of several endpoints).
WOULD_CHANGE = {
    "status": "changed",
    "display_name": "changed",
    "note": "changed",
    "locked": True,
    "home": {"last_read_id": "1"},
    "follow": False,
    "mention": False,
}


@pytest.mark.parametrize("op", SCOPED, ids=lambda o: o.id)
def test_too_few_scopes(world: World, op: Operation, record_property: RecordProperty) -> None:
    """Tokens: a token without the endpoint's scope (Mastodon's) is refused (403) and changes nothing"""
    _figures(record_property, f"{len(SCOPED)} endpoints, read-only or write-only tokens")
    lacking = _lacking_token(world, op)
    assert lacking is not None, f"{op.id} accepts both read and write tokens: {op.scopes}"
    before = world.victim_before("scopes") if op.method != "GET" else None
    body = WOULD_CHANGE if op.has_body else None
    r = world.call(op, bearer(lacking[1]), **({"json": body} if body else {}))
    assert is_error(r, 403), f"{lacking[0]} token: {describe(r)}"
    if before is not None:
        assert victim_state(world) == before


STREAMS = [("sse", channel, stream) for channel, stream in SSE_CHANNELS.items()]
STREAMS += [("websocket", stream, stream) for stream in SSE_CHANNELS.values()]
# As Mastodon's streaming server: public and hashtag streams take any valid token, the others a
# token that may read what they carry (STREAM_SCOPES).
STREAM_CASES = [
    (transport, name, credential)
    for transport, name, stream in STREAMS
    for credential in ("no token", "expired", "alg none", "a write-only token")
    if credential != "a write-only token" or stream in STREAM_SCOPES
]
# The control: the victim's own token opens them (so a refusal above is the token's doing).
STREAM_CASES += [("sse", "user", "the victim's token"), ("websocket", "user", "the victim's token")]


def _stream_refusal(world: World, transport: str, name: str, token: str | None) -> tuple[int, str]:
    """The status and body a stream is refused with (an open stream fails the case)."""
    headers = bearer(token) if token else {}
    if transport == "sse":
        with world.api.stream(
            "GET", f"/api/v1/streaming/{name}", params={"tag": "attack"}, headers=headers
        ) as r:
            return r.status_code, r.read().decode(errors="replace")[
                :300
            ] if r.status_code != 200 else "(open)"
    url = world.url.replace("http://", "ws://") + f"/api/v1/streaming?stream={name}&tag=attack"
    try:
        with ws_connect(url, additional_headers=headers, open_timeout=30) as ws:
            try:
                message = ws.recv(timeout=2)
            except TimeoutError:
                return 200, "(open)"  # accepted, and nothing said: an open stream
    except InvalidStatus as refused:
        return refused.response.status_code, refused.response.body.decode(
            errors="replace"
        ) if refused.response.body else ""
    except ConnectionClosed as closed:
        return 1000 + (closed.rcvd.code if closed.rcvd else 0), "closed"
    return 200, str(message)


@pytest.mark.parametrize(("transport", "name", "credential"), STREAM_CASES)
def test_streams_without_a_valid_token(
    world: World, transport: str, name: str, credential: str, record_property: RecordProperty
) -> None:
    """Tokens: every stream (Server-Sent Events, WebSocket) refuses no token, a forged one, a lacking scope"""
    _figures(record_property, f"{len(STREAMS)} streams (SSE and WebSocket)")
    token = {
        "no token": None,
        "expired": world.forger.forgeries()["expired"],
        "alg none": world.forger.forgeries()["alg none"],
        "a write-only token": world.victim.write_token,
        "the victim's token": world.victim.token,
    }[credential]
    status, body = _stream_refusal(world, transport, name, token)
    if credential == "the victim's token":
        assert (status, body) == (200, "(open)"), (status, body)
        return
    if transport == "sse":
        assert status == 401 and '"error"' in body, (status, body)
    else:
        assert status in (401, 1008) or (status == 200 and '"error"' in body), (status, body)


# == another account's things ======================================================================

CrossCase = Callable[[World], None]
CROSS: dict[str, CrossCase] = {}


def cross(name: str) -> Callable[[CrossCase], CrossCase]:
    def register_case(case: CrossCase) -> CrossCase:
        CROSS[name] = case
        return case

    return register_case


def _not_found(r: httpx.Response, statuses: tuple[int, ...] = (404,)) -> None:
    assert is_error(r, statuses), describe(r)


def _leaks(world: World, text_: str) -> list[str]:
    return [word for word in world.private.values() if word in text_]


for _sub in ("", "/context", "/history", "/source", "/favourited_by"):

    def _read_private(world: World, sub: str = _sub) -> None:
        for status in world.private:
            for headers in (world.attacker.auth, {}):
                _not_found(world.api.get(f"/api/v1/statuses/{status}{sub}", headers=headers))

    cross(f"read a followers-only and a direct post{_sub}")(_read_private)


@cross("fetch private posts by id list")
def _by_ids(world: World) -> None:
    r = world.as_attacker("GET", "/api/v1/statuses", params=[("id[]", s) for s in world.private])
    assert r.status_code == 200 and r.json() == [], describe(r)


@cross("list the victim's posts, timelines")
def _lists(world: World) -> None:
    for path in (
        f"/api/v1/accounts/{world.victim.id}/statuses",
        "/api/v1/timelines/public",
        "/api/v1/timelines/tag/attack",
        "/api/v1/timelines/home",
    ):
        r = world.as_attacker("GET", path)
        assert r.status_code == 200, describe(r)
        assert not ({s["id"] for s in r.json()} & set(world.private)), describe(r)
        assert not _leaks(world, r.text)


@cross("edit the victim's post")
def _edit(world: World) -> None:
    public = world.values["public_id"]
    _not_found(world.as_attacker("PUT", f"/api/v1/statuses/{public}", json={"status": "pwned"}), (403, 404))
    assert "pwned" not in world.as_victim("GET", f"/api/v1/statuses/{public}").json()["content"]


@cross("delete the victim's post")
def _delete(world: World) -> None:
    public = world.values["public_id"]
    _not_found(world.as_attacker("DELETE", f"/api/v1/statuses/{public}"), (403, 404))
    assert world.as_victim("GET", f"/api/v1/statuses/{public}").status_code == 200


@cross("favourite or reply to a private post")
def _favourite_reply(world: World) -> None:
    for status in world.private:
        _not_found(world.as_attacker("POST", f"/api/v1/statuses/{status}/favourite"))
        r = world.as_attacker("POST", "/api/v1/statuses", json={"status": "hi", "in_reply_to_id": status})
        _not_found(r, (404, 422))


@cross("translate a private post")
def _translate(world: World) -> None:
    for status in world.private:
        r = world.as_attacker("POST", f"/api/v1/statuses/{status}/translate", json={"lang": "es"})
        _not_found(r, (403, 404))
        assert not _leaks(world, r.text)


@cross("search for a private post")
def _search(world: World) -> None:
    for status, word in world.private.items():
        # The control: the post is indexed (its author finds it), so an empty answer means something.
        eventually(
            lambda word=word: world.as_victim("GET", "/api/v2/search", params={"q": word}).json(),
            lambda found, status=status: status in {s["id"] for s in found["statuses"]},
        )
        for headers in (world.attacker.auth, {}):
            r = world.api.get("/api/v2/search", params={"q": word, "type": "statuses"}, headers=headers)
            assert r.status_code == 200 and r.json()["statuses"] == [], describe(r)
            r = world.api.get(
                "/api/v2/search", params={"q": f"from:{world.victim.username}"}, headers=headers
            )
            assert r.status_code == 200 and not _leaks(world, r.text), describe(r)


@cross("read, change or cancel the victim's scheduled post")
def _scheduled(world: World) -> None:
    path = f"/api/v1/scheduled_statuses/{world.values['scheduled_id']}"
    _not_found(world.as_attacker("GET", path))
    _not_found(
        world.as_attacker(
            "PUT", path, json={"scheduled_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}
        )
    )
    _not_found(world.as_attacker("DELETE", path))
    assert world.as_attacker("GET", "/api/v1/scheduled_statuses").json() == []
    assert world.as_victim("GET", path).status_code == 200


@cross("read or dismiss the victim's notification (v1)")
def _notification(world: World) -> None:
    path = f"/api/v1/notifications/{world.values['notification_id']}"
    _not_found(world.as_attacker("GET", path))
    _not_found(world.as_attacker("POST", f"{path}/dismiss"))
    mine = world.as_attacker("GET", "/api/v1/notifications").json()
    assert world.values["notification_id"] not in {n["id"] for n in mine}
    assert world.as_victim("GET", path).status_code == 200


@cross("read or dismiss the victim's notification group (v2)")
def _group(world: World) -> None:
    path = f"/api/v2/notifications/{world.values['group_key']}"
    _not_found(world.as_attacker("GET", path))
    _not_found(world.as_attacker("GET", f"{path}/accounts"))
    _not_found(world.as_attacker("POST", f"{path}/dismiss"))
    assert world.as_victim("GET", path).status_code == 200


@cross("clear notifications clears only one's own")
def _clear(world: World) -> None:
    assert world.as_attacker("POST", "/api/v1/notifications/clear").status_code == 200
    assert (
        world.as_victim("GET", f"/api/v1/notifications/{world.values['notification_id']}").status_code == 200
    )


@cross("read or move the victim's markers")
def _markers(world: World) -> None:
    mine = world.as_attacker("GET", "/api/v1/markers", params={"timeline[]": "home"}).json()
    assert mine.get("home", {}).get("last_read_id") != world.values["public_id"]
    moved = world.as_attacker("POST", "/api/v1/markers", json={"home": {"last_read_id": "1"}})
    assert moved.status_code == 200, describe(moved)
    theirs = world.as_victim("GET", "/api/v1/markers", params={"timeline[]": "home"}).json()
    assert theirs["home"]["last_read_id"] == world.values["public_id"]


@cross("change the victim's email preferences")
def _email_preferences(world: World) -> None:
    before = world.as_victim("GET", "/api/v1/notifications/email_preferences").json()
    flipped = {k: not v for k, v in before.items() if isinstance(v, bool)}
    r = world.as_attacker("PATCH", "/api/v1/notifications/email_preferences", json=flipped)
    assert r.status_code == 200, describe(r)
    assert world.as_victim("GET", "/api/v1/notifications/email_preferences").json() == before
    for method in ("GET", "POST"):
        r = world.api.request(method, "/unsubscribe", params={"token": "forged", "type": "follow"})
        assert 400 <= r.status_code < 500, describe(r)
    assert world.as_victim("GET", "/api/v1/notifications/email_preferences").json() == before


@cross("withdraw the victim's authorised app")
def _authorised_app(world: World) -> None:
    # Withdrawing is the caller's own authorisation of that app: for the attacker, nothing to do.
    r = world.as_attacker("DELETE", f"/oauth/authorized_applications/{world.values['application_id']}")
    assert r.status_code in (200, 404), describe(r)
    assert _token_active(world, world.victim.token)


@cross("web: read the private post's pages")
def _web_pages(world: World) -> None:
    assert world.attacker.browser is not None
    for status in world.private:
        for suffix in ("", "/history", "/edit"):
            for client in (world.attacker.browser, browser(world.url)):
                r = client.get(f"/@{world.victim.username}/{status}{suffix}")
                assert r.status_code in (303, 403, 404), describe(r)
                assert not _leaks(world, r.text), describe(r)
        r = world.attacker.browser.get(f"/@{world.victim.username}")
        assert r.status_code == 200 and not _leaks(world, r.text)


@cross("web: delete, edit, translate, cancel, revoke the victim's things")
def _web_forms(world: World) -> None:
    client = world.attacker.browser
    assert client is not None
    token = world.form_token(world.attacker)
    public, private = world.values["public_id"], next(iter(world.private))
    attempts = [
        (f"/statuses/{public}/delete", {}),
        (f"/@{world.victim.username}/{public}/edit", {"status": "pwned"}),
        (f"/statuses/{private}/translate", {}),
        (f"/statuses/{private}/favourite", {}),
        (f"/scheduled/{world.values['scheduled_id']}/cancel", {}),
        (f"/settings/applications/{world.values['application_id']}/revoke", {}),
    ]
    for path, form in attempts:
        r = client.post(path, data={"authenticity_token": token, **form}, headers={"Accept": "text/html"})
        assert r.status_code < 500 and not _leaks(world, r.text), describe(r)
    status = world.as_victim("GET", f"/api/v1/statuses/{public}")
    assert status.status_code == 200 and "pwned" not in status.json()["content"]
    assert (
        world.as_victim("GET", f"/api/v1/scheduled_statuses/{world.values['scheduled_id']}").status_code
        == 200
    )
    assert _token_active(world, world.victim.token)
    favourited = world.as_victim("GET", f"/api/v1/statuses/{private}/favourited_by").json()
    assert [a["id"] for a in favourited] == [world.victim.id]


@pytest.mark.parametrize("case", list(CROSS), ids=list(CROSS))
def test_another_accounts_things(world: World, case: str, record_property: RecordProperty) -> None:
    """Accounts: another account's private things can't be read, changed, dismissed or found (API, web)

    Posts (followers-only, direct), their thread, history, source and favourites, scheduled posts,
    notifications (v1 and grouped), markers, email preferences, authorised apps, translation,
    search, and the web pages and forms over them."""
    _figures(record_property, f"{len(CROSS)} attempts")
    CROSS[case](world)


# == identity headers ==============================================================================

SPOOFED = {
    "x-user-id": "1",
    "x-user-scopes": "read write follow admin:read admin:write",
    "x-token-id": "spoofed",
    "x-app-id": "spoofed",
    "x-app-record-id": "1",
    "x-client-ip": "10.0.0.1",
    "x-internal-timestamp": "0",
    "x-internal-signature": "0" * 64,
}


@pytest.mark.parametrize("op", NEEDS_TOKEN, ids=lambda o: o.id)
def test_spoofed_identity_at_the_gateway(
    world: World, op: Operation, record_property: RecordProperty
) -> None:
    """Identity: identity headers a client sends the gateway are stripped (no token: 401; a token: its own)"""
    _figures(record_property, f"{len(NEEDS_TOKEN)} endpoints")
    headers = {**SPOOFED, "x-user-id": world.victim.id}
    r = world.call(op, headers)
    assert is_error(r, 401), describe(r)
    if op.path == "/api/v1/accounts/verify_credentials":
        me = world.api.get(op.path, headers={**headers, **world.attacker.auth})
        assert me.json()["id"] == world.attacker.id, describe(me)


def _direct_targets() -> list[tuple[str, str, str]]:
    found = [(op.service, op.method, op.path) for op in API]
    found += [("web", r.method, r.path) for r in WEB]
    return found


DIRECT = _direct_targets()
FORGED_SIGNATURES = ("unsigned", "another secret", "another request's", "stale")


@pytest.mark.parametrize("variant", FORGED_SIGNATURES)
@pytest.mark.parametrize("target", DIRECT, ids=lambda t: f"{t[0]} {t[1]} {t[2]}")
def test_services_refuse_requests_not_signed_by_the_gateway(
    world: World, target: tuple[str, str, str], variant: str, record_property: RecordProperty
) -> None:
    """Identity: each service refuses what the gateway didn't sign (unsigned, other key, replayed, stale)"""
    _figures(record_property, f"{len(DIRECT)} endpoints and pages x {len(FORGED_SIGNATURES)} forgeries")
    service, method, template = target
    path = fill(template, world.values)
    identity = {"x-user-id": world.victim.id, "x-user-scopes": "read write follow", "x-token-id": "spoofed"}
    secret, now = world.stack.internal_secret, time.time()
    headers = {
        "unsigned": identity,
        "another secret": sign_request("not-the-secret", method, path, identity, now),
        # A real signature, of a request the gateway answers itself (so never one of these).
        "another request's": sign_request(secret, "GET", "/api/v1/instance", identity, now),
        "stale": sign_request(secret, method, path, identity, now - 600),
    }[variant]
    r = world.direct.request(method, world.stack.service_urls[service] + path, headers=headers)
    assert is_error(r, 403), describe(r)


# == bodies ========================================================================================

MB = 1024 * 1024
WEB_FORM_TARGETS = [("web", r.method, r.path) for r in WEB_FORMS]
BODY_TARGETS = [("api", op.method, op.path) for op in WITH_BODY] + WEB_FORM_TARGETS


def _announced(url: str, method: str, path: str, headers: dict[str, str], length: int, first: bytes) -> int:
    """Sends the head of a request announcing `length` bytes and the first of them; the status."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {length}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode() + first)
        answer = sock.makefile("rb").readline()
    return int(answer.split()[1])


@pytest.mark.parametrize("kind", ["json", "form", "upload"])
@pytest.mark.parametrize("target", BODY_TARGETS, ids=lambda t: f"{t[0]} {t[1]} {t[2]}")
def test_oversized_bodies_and_uploads(
    world: World, target: tuple[str, str, str], kind: str, record_property: RecordProperty
) -> None:
    """Bodies: a body over the limit (1 MB, uploads 10 MB) is refused with 413, sent or announced"""
    _figures(record_property, f"{len(BODY_TARGETS)} endpoints and forms x JSON, form, upload")
    who, method, template = target
    path = fill(template, world.values)
    headers = dict(world.victim.auth) if who == "api" else {}
    if kind == "json":
        body = b'{"status": "' + b"x" * (MB + 10) + b'"}'
        r = world.api.request(
            method, path, content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert is_error(r, 413), describe(r)
    elif kind == "form":
        r = world.api.request(method, path, data={"status": "x" * (MB + 10)}, headers=headers)
        assert is_error(r, 413), describe(r)
    else:
        boundary = "attackboundary"
        first = f'--{boundary}\r\nContent-Disposition: form-data; name="avatar"; filename="a.png"\r\n'
        first += "Content-Type: image/png\r\n\r\n"
        status = _announced(
            world.url,
            method,
            path,
            {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            11 * MB,
            first.encode() + b"0" * 65536,
        )
        assert status == 413, f"{method} {path} -> {status}"


@pytest.mark.parametrize("target", BODY_TARGETS, ids=lambda t: f"{t[0]} {t[1]} {t[2]}")
def test_deeply_nested_json(
    world: World, target: tuple[str, str, str], record_property: RecordProperty
) -> None:
    """Bodies: JSON nested 5,000 deep is refused with 400 on every endpoint and form, never a 500"""
    _figures(record_property, f"{len(BODY_TARGETS)} endpoints and forms")
    who, method, template = target
    headers = {"Content-Type": "application/json", **(world.victim.auth if who == "api" else {})}
    deep = b'{"status": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = world.api.request(method, fill(template, world.values), content=deep, headers=headers)
    assert is_error(r, 400), describe(r)


# == what people write =============================================================================

# At most 26 characters: with a case's own tag they fit a display name (30).
PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "img onerror": "<img src onerror=alert(1)>",
    "attribute break": '"><svg onload=alert(1)>',
    "sql drop": "'; DROP TABLE statuses; --",
    "sql or": "' OR '1'='1' --",
    "javascript url": "javascript:alert(1)",
}
_CASES = itertools.count()


def _tagged(payload: str) -> str:
    """The payload and a tag of this case's own, so no other case's text can stand in for it."""
    return f"{payload} {next(_CASES):03d}"


def _author_html(world: World, path: str) -> str:
    assert world.author.browser is not None
    r = world.author.browser.get(path)
    assert r.status_code == 200, describe(r)
    return r.text


def _profile(world: World, changes: dict[str, Any]) -> dict[str, Any]:
    r = world.api.patch("/api/v1/accounts/update_credentials", headers=world.author.auth, json=changes)
    assert r.status_code == 200, describe(r)
    me: dict[str, Any] = world.api.get(
        "/api/v1/accounts/verify_credentials", headers=world.author.auth
    ).json()
    return me


def _shown(html: str, payload: str, *, as_text: bool = True) -> None:
    problems = runs_no_code_of(html, payload)
    if not as_text:
        problems = [p for p in problems if p != "the payload is not shown as text"]
    assert not problems, (payload, problems)


def _write_display_name(world: World, payload: str) -> None:
    me = _profile(world, {"display_name": payload})
    assert me["display_name"] == payload
    _shown(_author_html(world, f"/@{world.author.username}"), payload)


def _write_note(world: World, payload: str) -> None:
    me = _profile(world, {"note": payload})
    assert me["source"]["note"] == payload
    _shown(me["note"], payload)  # the API's HTML: the words as text, no markup of theirs
    _shown(_author_html(world, f"/@{world.author.username}"), payload)


def _write_field(world: World, payload: str) -> None:
    me = _profile(world, {"fields_attributes": {"0": {"name": payload, "value": payload}}})
    (field_,) = me["fields"]
    assert field_["name"] == payload and me["source"]["fields"][0]["value"] == payload
    _shown(field_["value"], payload)  # (the web UI shows no profile fields)


def _write_status(world: World, payload: str) -> None:
    status = _post(world.api, world.author, {"status": payload, "visibility": "public"})
    body = world.api.get(f"/api/v1/statuses/{status}", headers=world.author.auth).json()
    _shown(body["content"], payload)
    source = world.api.get(f"/api/v1/statuses/{status}/source", headers=world.author.auth).json()
    assert source["text"] == payload
    _shown(browser(world.url).get(f"/@{world.author.username}/{status}").text, payload)


def _write_spoiler(world: World, payload: str) -> None:
    status = _post(world.api, world.author, {"status": "behind a warning", "spoiler_text": payload})
    body = world.api.get(f"/api/v1/statuses/{status}", headers=world.author.auth).json()
    assert body["spoiler_text"] == payload
    _shown(browser(world.url).get(f"/@{world.author.username}/{status}").text, payload)


def _write_edit(world: World, payload: str) -> None:
    status = _post(world.api, world.author, {"status": "before"})
    r = world.api.put(
        f"/api/v1/statuses/{status}",
        headers=world.author.auth,
        json={"status": payload, "spoiler_text": payload},
    )
    assert r.status_code == 200, describe(r)
    history = world.api.get(f"/api/v1/statuses/{status}/history", headers=world.author.auth).json()
    assert history[-1]["spoiler_text"] == payload
    _shown(history[-1]["content"], payload)
    _shown(_author_html(world, f"/@{world.author.username}/{status}/history"), payload)


def _write_scheduled(world: World, payload: str) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = world.api.post(
        "/api/v1/statuses", headers=world.author.auth, json={"status": payload, "scheduled_at": later}
    )
    assert r.status_code == 200 and r.json()["params"]["text"] == payload, describe(r)
    _shown(_author_html(world, "/scheduled"), payload)
    world.api.delete(f"/api/v1/scheduled_statuses/{r.json()['id']}", headers=world.author.auth)


def _write_app_name(world: World, payload: str) -> None:
    r = world.api.post("/api/v1/apps", json={"client_name": payload, "redirect_uris": OOB, "scopes": "read"})
    assert r.status_code == 200 and r.json()["name"] == payload, describe(r)
    # The consent page names the app to whoever an attacker sends there.
    consent = world.api.get(
        "/oauth/authorize",
        params={
            "client_id": r.json()["client_id"],
            "redirect_uri": OOB,
            "response_type": "code",
            "scope": "read",
        },
    )
    assert consent.status_code == 200, describe(consent)
    _shown(consent.text, payload)


def _write_search(world: World, payload: str) -> None:
    r = world.api.get("/api/v2/search", params={"q": payload}, headers=world.author.auth)
    assert r.status_code == 200, describe(r)
    _shown(_author_html(world, f"/search?q={quote(payload)}"), payload, as_text=False)


FIELDS: dict[str, Callable[[World, str], None]] = {
    "display name": _write_display_name,
    "bio": _write_note,
    "profile field": _write_field,
    "status": _write_status,
    "content warning": _write_spoiler,
    "edit": _write_edit,
    "scheduled status": _write_scheduled,
    "app name": _write_app_name,
    "search query": _write_search,
}


@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("field_", list(FIELDS))
def test_payloads_are_stored_and_shown_as_text(
    world: World, field_: str, payload: str, record_property: RecordProperty
) -> None:
    """Text: SQL, HTML and script in every text field are stored exactly and shown as text, never run"""
    _figures(record_property, f"{len(FIELDS)} fields x {len(PAYLOADS)} payloads")
    FIELDS[field_](world, _tagged(PAYLOADS[payload]))


# == the web UI's forms ============================================================================

CSRF_VARIANTS = ("no token", "wrong token", "another site's Origin", "another site's Referer")
FORM_DATA = {
    "status": "csrf",
    "display_name": "csrf",
    "note": "csrf",
    "language": "es",
    "locale": "es",
    "visibility": "public",
    "scheduled_at": "2100-01-01T00:00",
    "email": "csrf@example.com",
}


@pytest.mark.parametrize("variant", CSRF_VARIANTS)
@pytest.mark.parametrize("form", WEB_FORMS, ids=lambda r: r.id)
def test_csrf_on_every_form(
    world: World, form: WebRoute, variant: str, record_property: RecordProperty
) -> None:
    """Web: every form refuses a post without its token, a wrong one or from another site (403)"""
    _figures(record_property, f"{len(WEB_FORMS)} forms x {len(CSRF_VARIANTS)} forgeries")
    client = world.victim.browser
    assert client is not None
    before = world.victim_before("csrf")
    token = world.form_token(world.victim)
    data, headers = dict(FORM_DATA), {}
    if variant == "wrong token":
        data["authenticity_token"] = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif variant == "another site's Origin":
        data["authenticity_token"] = token
        headers["Origin"] = "https://evil.example"
    elif variant == "another site's Referer":
        data["authenticity_token"] = token
        headers = {"Origin": "", "Referer": "https://evil.example/page"}
    request = client.build_request(
        "POST",
        fill(
            form.path,
            {**world.values, "username": world.attacker.username, "status_id": world.values["public_id"]},
        ),
        data=data,
        headers=headers,
    )
    if variant == "another site's Referer":
        del request.headers["Origin"]
    r = client.send(request)
    assert r.status_code == 403, describe(r)
    assert "text/html" in r.headers.get("content-type", ""), describe(r)
    if form.path == "/auth/sign_out":
        assert client.get("/home").status_code == 200  # still signed in
    assert victim_state(world) == before


# == redirects =====================================================================================

ELSEWHERE = (
    "//evil.example/x",
    "https://evil.example/",
    "/\\evil.example",
    "http:evil.example",
    "javascript:alert(1)",
)


def _location(r: httpx.Response) -> str:
    assert r.status_code in (301, 302, 303, 307, 308), describe(r)
    return r.headers["location"]


def _signed_in_next(world: World, target: str) -> str:
    assert world.author.browser is not None
    return _location(world.author.browser.get("/auth/sign_in", params={"next": target}))


def _sign_in_flow_next(world: World, target: str) -> str:
    from html import unescape

    with browser(world.url) as client:
        start = client.get("/auth/sign_in", params={"next": target})
        consent = client.get(_location(start))
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text))
        granted = client.post(
            "/oauth/authorize",
            data={
                **{k: unescape(v) for k, v in fields.items()},
                "username": world.author.username,
                "password": PASSWORD,
                "decision": "approve",
            },
        )
        return _location(client.get(_location(granted)))


def _form_next(path: str, extra: dict[str, str]) -> Callable[[World, str], str]:
    def attempt(world: World, target: str) -> str:
        client = world.author.browser
        assert client is not None
        token = world.form_token(world.author)
        path_ = fill(
            path, {**world.values, "username": world.victim.username, "status_id": world.values["public_id"]}
        )
        return _location(client.post(path_, data={"authenticity_token": token, "next": target, **extra}))

    return attempt


def _forwarded_host(world: World, target: str) -> str:
    host = urlsplit(target if "//" in target else "https://evil.example").netloc or "evil.example"
    with browser(world.url) as client:
        return _location(client.get("/auth/sign_in", headers={"X-Forwarded-Host": host}))


def _oauth_redirect_uri(decision: str | None) -> Callable[[World, str], str]:
    def attempt(world: World, target: str) -> str:
        app = world.author.app
        query = {"client_id": app.client_id, "redirect_uri": target, "response_type": "code", "scope": "read"}
        if decision is None:
            r = world.api.get("/oauth/authorize", params=query)
        else:
            r = world.api.post(
                "/oauth/authorize",
                data={
                    **query,
                    "username": world.author.username,
                    "password": PASSWORD,
                    "decision": decision,
                },
            )
        if r.status_code in (301, 302, 303, 307, 308):
            return r.headers["location"]
        assert 400 <= r.status_code < 500, describe(r)
        assert target not in (r.headers.get("refresh") or ""), describe(r)
        return "/"  # refused, no redirect at all

    return attempt


REDIRECTS: dict[str, Callable[[World, str], str]] = {
    "sign-in ?next= (signed in)": _signed_in_next,
    "sign-in ?next= (through the whole sign-in)": _sign_in_flow_next,
    "language switch next": _form_next("/language", {"locale": "en"}),
    "post form next": _form_next("/statuses", {"status": "redirect check", "visibility": "direct"}),
    "follow form next": _form_next("/@{username}/follow", {}),
    "unfollow form next": _form_next("/@{username}/unfollow", {}),
    "favourite form next": _form_next("/statuses/{status_id}/favourite", {}),
    "unfavourite form next": _form_next("/statuses/{status_id}/unfavourite", {}),
    "sign-in behind a forged X-Forwarded-Host": _forwarded_host,
    "OAuth redirect_uri (consent page)": _oauth_redirect_uri(None),
    "OAuth redirect_uri (approve)": _oauth_redirect_uri("approve"),
    "OAuth redirect_uri (deny)": _oauth_redirect_uri("deny"),
}


@pytest.mark.parametrize("target", ELSEWHERE)
@pytest.mark.parametrize("place", list(REDIRECTS))
def test_no_open_redirect(world: World, place: str, target: str, record_property: RecordProperty) -> None:
    """Web: `next=`, return-to and `redirect_uri` never send anyone off the site"""
    _figures(record_property, f"{len(REDIRECTS)} places x {len(ELSEWHERE)} targets")
    location = REDIRECTS[place](world, target)
    assert stays_on_site(location, world.url), f"{place}: {target!r} -> {location!r}"


# == rate limits (last: a gateway of their own) ====================================================

# The product's defaults (gateway/settings.py), Mastodon's numbers.
DEFAULT_LIMITS = {
    "RATE_LIMIT_DEFAULT": "300/5 minutes",
    "RATE_LIMIT_SIGN_IN": "25/5 minutes",
    "RATE_LIMIT_REGISTRATION": "5/30 minutes",
    "RATE_LIMIT_PAGES": "1500/5 minutes",
}


def _limited_gateway(world: World) -> str:
    if "limited gateway" not in world.facts:
        world.facts["limited gateway"] = world.stack.start_replica("gateway", DEFAULT_LIMITS)
    return str(world.facts["limited gateway"])


def _until_refused(send: Callable[[], httpx.Response], limit: int) -> httpx.Response:
    """Sends `limit` requests (a few at a time, as a client hammering the API would), none of
    which may be refused, then one more: the answer to that one."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: send(), range(limit)))
    early = [r for r in answers if r.status_code == 429]
    assert not early, f"{len(early)} of {limit} refused before the limit: {describe(early[0])}"
    return send()


def _assert_limited(r: httpx.Response, limit: int) -> None:
    assert is_error(r, 429), describe(r)
    assert r.headers["x-ratelimit-limit"] == str(limit), r.headers
    assert r.headers["x-ratelimit-remaining"] == "0", r.headers
    assert datetime.fromisoformat(r.headers["x-ratelimit-reset"]) > datetime.now(UTC), r.headers
    assert int(r.headers["retry-after"]) >= 1, r.headers


def _address(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{n}"}


# The API's limits are counted before a request is routed: the gateway's own instance endpoint
# is the cheapest request that counts (a service's answer would only slow the row down).
def _api_per_account(world: World, url: str) -> None:
    account = register(world.api, world.author.app, "limited")
    with httpx.Client(base_url=url, timeout=30) as client:
        r = _until_refused(lambda: client.get("/api/v1/instance", headers=account.auth), 300)
        _assert_limited(r, 300)
        refused = client.get("/api/v1/accounts/verify_credentials", headers=account.auth)
        assert refused.status_code == 429, describe(refused)
        other = client.get("/api/v1/accounts/verify_credentials", headers=world.attacker.auth)
        assert other.status_code == 200, describe(other)


def _api_per_address(world: World, url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        r = _until_refused(lambda: client.get("/api/v1/instance", headers=_address(11)), 300)
        _assert_limited(r, 300)
        assert client.get("/api/v1/timelines/public", headers=_address(11)).status_code == 429
        assert client.get("/api/v1/timelines/public", headers=_address(12)).status_code == 200


def _sign_in_per_address(world: World, url: str) -> None:
    app = world.author.app
    # Attempts with a wrong client secret count as much as wrong passwords, and cost no hashing.
    form = {
        "grant_type": "password",
        "client_id": app.client_id,
        "client_secret": "wrong",
        "username": f"{world.author.username}@example.com",
        "password": PASSWORD,
        "scope": "read",
    }
    right = {**form, "client_secret": app.client_secret}
    with httpx.Client(base_url=url, timeout=30) as client:
        r = _until_refused(lambda: client.post("/oauth/token", data=form, headers=_address(21)), 25)
        _assert_limited(r, 25)
        # The right credentials from that address wait too; from another one they work.
        assert client.post("/oauth/token", data=right, headers=_address(21)).status_code == 429
        assert client.post("/oauth/token", data=right, headers=_address(22)).status_code == 200


def _registration_per_address(world: World, url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        r = _until_refused(lambda: client.post("/api/v1/accounts", json={}, headers=_address(31)), 5)
        _assert_limited(r, 5)
        assert client.post("/api/v1/accounts", json={}, headers=_address(32)).status_code == 401


def _pages_per_address(world: World, url: str) -> None:
    css = re.search(r'href="(/static/[^"]+\.css)"', browser(world.url).get("/").text)
    assert css, "no stylesheet on the front page"
    with httpx.Client(base_url=url, timeout=30) as client:
        r = _until_refused(lambda: client.get(css.group(1), headers=_address(41)), 1500)
        _assert_limited(r, 1500)
        assert client.get(css.group(1), headers=_address(42)).status_code == 200


LIMITS: dict[str, Callable[[World, str], None]] = {
    "API per account (300 / 5 min)": _api_per_account,
    "API per address without a token (300 / 5 min)": _api_per_address,
    "sign-in per address (25 / 5 min)": _sign_in_per_address,
    "registration per address (5 / 30 min)": _registration_per_address,
    "web UI per address (1500 / 5 min)": _pages_per_address,
}


@pytest.mark.parametrize("limit", list(LIMITS))
def test_rate_limits(world: World, limit: str, record_property: RecordProperty) -> None:
    """Limits: each rate limit, reached, answers 429 with `X-RateLimit-*`, `Retry-After`, to that one only"""
    _figures(record_property, f"{len(LIMITS)} limits at the product's defaults")
    LIMITS[limit](world, _limited_gateway(world))
