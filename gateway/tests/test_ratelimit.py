"""Rate limits: Mastodon's three headers on every answer (errors included), 429 in the API's
error format once a limit is spent, keyed by IP for anonymous callers and by account for
signed-in ones, and per-endpoint rules added as data."""

import time
from datetime import datetime

import pytest

from gateway.ratelimit import RateLimitRule, default_rules
from microblog_common.internal_auth import sign_client_address

from .conftest import ALICE, ALICE_TOKEN, SECRET, TokenTable, asgi_client, dead_tcp_url

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def rate(response) -> tuple[int, int, datetime]:
    assert all(h in response.headers for h in RATE_HEADERS), dict(response.headers)
    reset = datetime.fromisoformat(response.headers["x-ratelimit-reset"].replace("Z", "+00:00"))
    return int(response.headers["x-ratelimit-limit"]), int(response.headers["x-ratelimit-remaining"]), reset


async def test_every_kind_of_answer_carries_the_headers(gateway, upstreams):
    urls = {**upstreams.tcp, "users": upstreams.broken_url, "search": dead_tcp_url()}
    async with gateway(urls=urls, upstream_timeout_seconds=0.5) as client:
        answers = {
            "proxied": await client.get("/api/v1/timelines/public"),
            "own": await client.get("/api/v2/instance"),
            "page": await client.get("/"),
            "health": await client.get("/health/live"),
            "not found": await client.get("/api/v1/nope"),
            "unauthorized": await client.get("/api/v1/timelines/home", headers={"Authorization": "Bearer x"}),
            "bad gateway": await client.get("/api/v1/accounts/1"),
            "unavailable": await client.get("/api/v2/search?q=x"),
            "timeout": await client.get("/api/v1/timelines/public?mode=slow&seconds=3"),
            "upstream error": await client.get("/api/v1/statuses/1?mode=status&code=422"),
        }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {
        "proxied": 200,
        "own": 200,
        "page": 200,
        "health": 200,
        "not found": 404,
        "unauthorized": 401,
        "bad gateway": 502,
        "unavailable": 503,
        "timeout": 504,
        "upstream error": 422,
    }
    for name, response in answers.items():
        limit, remaining, _ = rate(response)
        assert 0 <= remaining < limit, name
        assert response.headers["x-request-id"], name


async def test_the_limit_is_counted_down_then_refused_with_429(gateway):
    async with gateway(rate_limit_default="3/minute") as client:
        answers = [await client.get("/api/v1/timelines/public") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [rate(r)[:2] for r in answers] == [(3, 2), (3, 1), (3, 0), (3, 0)]
    refused = answers[-1]
    assert refused.json() == {"error": "Too many requests"}
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    reset = rate(refused)[2].timestamp()
    assert time.time() < reset <= time.time() + 61


async def test_anonymous_callers_are_counted_per_address(gateway):
    async with gateway(rate_limit_default="2/minute", client_ip="203.0.113.1") as first:
        for _ in range(2):
            assert (await first.get("/api/v1/timelines/public")).status_code == 200
        assert (await first.get("/api/v1/timelines/public")).status_code == 429
        async with asgi_client(first.app, "203.0.113.2") as second:
            response = await second.get("/api/v1/timelines/public")
    assert response.status_code == 200
    assert rate(response)[1] == 1


async def test_signed_in_callers_are_counted_per_account_not_per_address(gateway):
    bob = ALICE.__class__(user_id=43, scopes=frozenset({"read"}), app_id=None, token_id="tok-2")
    table = TokenTable({ALICE_TOKEN: ALICE, "bob-token": bob})
    as_alice = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    async with gateway(rate_limit_default="2/minute", authenticator=table) as client:
        assert [
            (await client.get("/api/v1/timelines/home", headers=as_alice)).status_code for _ in range(3)
        ] == [
            200,
            200,
            429,
        ]
        bob_answer = await client.get("/api/v1/timelines/home", headers={"Authorization": "Bearer bob-token"})
        anonymous = await client.get("/api/v1/timelines/public")
    assert bob_answer.status_code == 200 and rate(bob_answer)[1] == 1
    assert anonymous.status_code == 200 and rate(anonymous)[1] == 1


async def test_invalid_tokens_spend_the_address_quota(gateway):
    """Guessing tokens can't buy a fresh quota per guess."""
    async with gateway(rate_limit_default="3/minute") as client:
        guesses = [
            await client.get("/api/v1/timelines/home", headers={"Authorization": f"Bearer g{i}"})
            for i in range(3)
        ]
        after = await client.get("/api/v1/timelines/public")
    assert [g.status_code for g in guesses] == [401, 401, 401]
    assert after.status_code == 429


async def test_per_endpoint_rules_are_data(gateway):
    rules = [
        RateLimitRule(
            "oauth_token", "2/5 minutes", key="ip", methods=frozenset({"POST"}), path="/oauth/token"
        ),
        *default_rules("100/minute", "100/minute"),
    ]
    async with gateway(rate_limit_rules=rules) as client:
        tokens = [await client.post("/oauth/token", data={"grant_type": "password"}) for _ in range(3)]
        elsewhere = await client.get("/api/v1/timelines/public")
        token_get = await client.get("/oauth/token")
    assert [t.status_code for t in tokens] == [200, 200, 429]
    assert [rate(t)[:2] for t in tokens] == [(2, 1), (2, 0), (2, 0)]
    # The 5-minute window of the endpoint rule, not the minute of the default one.
    assert rate(tokens[-1])[2].timestamp() > time.time() + 240
    assert elsewhere.status_code == 200 and rate(elsewhere)[:2] == (100, 97)
    assert token_get.status_code == 200 and rate(token_get)[0] == 100


async def test_health_probes_do_not_spend_the_api_quota(gateway):
    async with gateway(rate_limit_default="2/minute") as client:
        for _ in range(5):
            assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/api/v1/timelines/public")).status_code == 200


@pytest.mark.parametrize("spec", ["300/5 minutes", "10/second;1000/hour", "25 per 5 minutes"])
def test_rules_accept_the_limits_notation(spec):
    assert RateLimitRule("x", spec).items


async def test_sign_in_and_registration_have_their_own_per_address_limits(gateway):
    limits = {"rate_limit_sign_in": "2/minute", "rate_limit_registration": "1/minute"}
    async with gateway(**limits) as client:
        sign_in = [
            (await client.post("/oauth/token", data={"grant_type": "password"})).status_code for _ in range(3)
        ]
        consent = await client.post("/oauth/authorize")  # the consent form's password shares the limit
        register = [(await client.post("/api/v1/accounts")).status_code for _ in range(2)]
        reading = await client.get("/api/v1/accounts/1")  # other requests keep the general quota
    assert sign_in == [200, 200, 429] and consent.status_code == 429
    assert register == [200, 429]
    assert reading.status_code == 200


# -- the web UI calling on its visitors' behalf ----------------------------------------------


def _on_behalf_of(address: str, method: str, target: str, secret: str = SECRET) -> dict[str, str]:
    return sign_client_address(secret, method, target, address)


async def test_the_web_ui_names_the_browser_so_one_abuser_locks_out_no_one_else(gateway):
    """Every browser signs in through the web service, so every sign-in reaches the gateway from
    the web's address; its signed `x-internal-client-ip` makes each count as its browser's."""
    async with gateway(rate_limit_sign_in="2/minute") as web:
        token = "/oauth/token"
        abuser = [
            await web.post(token, headers=_on_behalf_of("203.0.113.7", "POST", token)) for _ in range(3)
        ]
        other = await web.post(token, headers=_on_behalf_of("203.0.113.8", "POST", token))
        the_web_itself = await web.post(token)
    assert [r.status_code for r in abuser] == [200, 200, 429]
    assert other.status_code == 200
    assert the_web_itself.status_code == 200
    seen = other.json()
    # The service is told the browser's address (signed by the gateway) and never sees the claim.
    assert seen["headers"]["x-client-ip"] == "203.0.113.8"
    assert not any(name.startswith("x-internal-client") for name in seen["headers"])


@pytest.mark.parametrize(
    "forgery",
    [
        {"x-internal-client-ip": "203.0.113.50"},  # no signature
        {"x-internal-client-ip": "203.0.113.51", "x-internal-client-signature": "1.abc"},
        # Signed with another secret.
        _on_behalf_of("203.0.113.52", "POST", "/oauth/token", secret="not-the-gateway-secret-0123456789"),
        # Signed for another request (method, path) than the one it comes with.
        _on_behalf_of("203.0.113.53", "GET", "/oauth/token"),
        _on_behalf_of("203.0.113.54", "POST", "/api/v1/accounts"),
        # Too old to count.
        sign_client_address(SECRET, "POST", "/oauth/token", "203.0.113.55", now=time.time() - 600),
    ],
)
async def test_a_client_cannot_forge_its_address(gateway, forgery):
    async with gateway(rate_limit_sign_in="1/minute") as client:
        first = await client.post("/oauth/token", headers=forgery)
        second = await client.post("/oauth/token", headers=forgery)
    # Both counted against the caller's own address (198.51.100.7), whatever they claimed.
    assert [first.status_code, second.status_code] == [200, 429]
    assert first.json()["headers"]["x-client-ip"] == "198.51.100.7"


async def test_a_forwarded_address_and_a_changed_one_are_told_apart(gateway):
    """A signature covers the address: an address swapped into a genuinely signed request counts
    for nothing."""
    async with gateway(rate_limit_sign_in="1/minute") as client:
        signed = _on_behalf_of("203.0.113.60", "POST", "/oauth/token")
        swapped = {**signed, "x-internal-client-ip": "203.0.113.61"}
        first = await client.post("/oauth/token", headers=swapped)
        second = await client.post("/oauth/token", headers={**signed, "x-internal-client-ip": "203.0.113.62"})
    assert first.json()["headers"]["x-client-ip"] == "198.51.100.7"
    assert second.status_code == 429


async def test_pages_count_apart_from_the_api(gateway):
    """Reading pages (a browser sends no token) never spends the API quota, nor the other way."""
    async with gateway(rate_limit_default="2/minute", rate_limit_pages="3/minute") as client:
        pages = [await client.get("/home") for _ in range(4)]
        api = [await client.get("/api/v1/timelines/public") for _ in range(3)]
    assert [r.status_code for r in pages] == [200, 200, 200, 429]
    assert int(pages[0].headers["x-ratelimit-limit"]) == 3
    assert [r.status_code for r in api] == [200, 200, 429]
    assert int(api[0].headers["x-ratelimit-limit"]) == 2


def test_the_pages_rule_follows_the_route_table():
    rules = {rule.name: rule for rule in default_rules("300/5 minutes", "600/minute", pages_rate="10/minute")}
    assert rules["pages"].applies_to("GET", "/@alice", "web")
    assert not rules["pages"].applies_to("GET", "/api/v1/timelines/home", "posts")
    assert not rules["api"].applies_to("GET", "/@alice", "web")
    assert rules["api"].applies_to("GET", "/api/v1/nothing", None)


async def test_a_services_own_429_keeps_the_services_limit_headers(gateway):
    """The client must wait for the limit that refused it, not the gateway's."""
    async with gateway() as client:
        limited = await client.get("/api/v1/timelines/public?mode=limited")
        fine = await client.get("/api/v1/timelines/public?mode=ok")
    assert limited.status_code == 429
    assert (limited.headers["x-ratelimit-limit"], limited.headers["x-ratelimit-remaining"]) == ("5", "0")
    assert limited.headers["retry-after"] == "42"
    assert fine.status_code == 200 and fine.headers["x-ratelimit-limit"] != "5"
