"""Requests reach the right service, as they were sent, with a verified identity and nothing a
client forged; answers come back as the service gave them."""

import asyncio
import json

import pytest

from gateway.ratelimit import RateLimitRule
from gateway.routes import resolve
from microblog_common.internal_auth import verify_request

from .conftest import ALICE, ALICE_TOKEN, SECRET, TokenTable

ROUTED = [
    ("POST", "/api/v1/statuses/123/translate", "translate"),
    ("GET", "/api/v1/instance/translation_languages", "translate"),
    ("GET", "/api/v1/accounts/123/statuses", "posts"),
    ("GET", "/api/v1/accounts/123", "users"),
    ("POST", "/api/v1/accounts", "users"),
    ("GET", "/api/v1/accounts/verify_credentials", "users"),
    ("PATCH", "/api/v1/accounts/update_credentials", "users"),
    ("GET", "/api/v1/accounts/relationships", "users"),
    ("POST", "/api/v1/accounts/123/follow", "users"),
    ("GET", "/api/v1/accounts/123/followers", "users"),
    ("POST", "/api/v1/apps", "users"),
    ("GET", "/api/v1/apps/verify_credentials", "users"),
    ("GET", "/oauth/authorize", "users"),
    ("POST", "/oauth/token", "users"),
    ("POST", "/oauth/revoke", "users"),
    ("GET", "/.well-known/oauth-authorization-server", "users"),
    ("POST", "/api/v1/auth/password_reset", "users"),
    ("POST", "/api/v1/auth/password_reset/confirm", "users"),
    ("GET", "/avatars/123.png", "users"),
    ("POST", "/api/v1/statuses", "posts"),
    ("GET", "/api/v1/statuses/123", "posts"),
    ("PUT", "/api/v1/statuses/123", "posts"),
    ("DELETE", "/api/v1/statuses/123", "posts"),
    ("GET", "/api/v1/statuses/123/context", "posts"),
    ("POST", "/api/v1/statuses/123/favourite", "posts"),
    ("GET", "/api/v1/timelines/home", "posts"),
    ("GET", "/api/v1/timelines/tag/python", "posts"),
    ("GET", "/api/v1/scheduled_statuses", "posts"),
    ("DELETE", "/api/v1/scheduled_statuses/9", "posts"),
    ("GET", "/api/v2/search", "search"),
    ("GET", "/api/v1/accounts/search", "search"),
    ("GET", "/api/v1/notifications", "notify"),
    ("POST", "/api/v1/notifications/clear", "notify"),
    ("GET", "/api/v1/notifications/email_preferences", "notify"),
    ("GET", "/api/v1/streaming/health", "notify"),
    ("GET", "/api/v1/streaming/user", "notify"),
    # The web UI: every page and static file the API doesn't use, its live updates.
    ("GET", "/", "web"),
    ("GET", "/home", "web"),
    ("GET", "/@alice", "web"),
    ("GET", "/@alice/123", "web"),
    ("POST", "/auth/sign_out", "web"),
    ("GET", "/auth/reset", "web"),
    ("GET", "/static/app.0123abcd.css", "web"),
    ("GET", "/stream", "web"),
    ("GET", "/admin", "web"),
    ("GET", "/api/v2/notifications", "notify"),
    ("GET", "/api/v2/notifications/unread_count", "notify"),
    ("POST", "/api/v2/notifications/follow-123/dismiss", "notify"),
    ("GET", "/api/v1/markers", "notify"),
    ("POST", "/api/v1/markers", "notify"),
    ("GET", "/unsubscribe", "notify"),
    ("POST", "/unsubscribe", "notify"),
]


@pytest.mark.parametrize(("method", "path", "service"), ROUTED)
def test_route_table(method, path, service):
    assert resolve(method, path).service == service


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/unknown"),
        ("POST", "/api/v2/search"),
        ("GET", "/api/v1/accountsx"),
        ("GET", "/api"),
        # Service-to-service endpoints (e.g. the token revocation feed) are never public.
        ("GET", "/internal/token-revocations"),
        ("GET", "/.well-known/jwks.json"),
        ("GET", "/metrics"),
        ("GET", "/internal/export/statuses"),
        ("GET", "/internal/export/accounts"),
        ("POST", "/avatars/1.png"),
        ("POST", "/system/media/x.png"),
        # Pages take GET and POST only.
        ("PUT", "/home"),
        ("DELETE", "/@alice/1"),
    ],
)
def test_paths_outside_the_table_resolve_to_nothing(method, path):
    assert resolve(method, path) is None


def test_the_web_ui_stream_is_relayed_as_a_stream_and_pages_are_not():
    assert resolve("GET", "/stream").streaming
    assert not resolve("GET", "/home").streaming


def test_translate_is_carved_out_of_statuses_only_for_its_method():
    assert resolve("GET", "/api/v1/statuses/1/translate").service == "posts"


@pytest.mark.parametrize(("method", "path", "service"), ROUTED)
async def test_each_area_reaches_its_service(gateway, method, path, service):
    async with gateway() as client:
        response = await client.request(method, path + "?a=1&b=two")
    assert response.status_code == 200, response.text
    seen = response.json()
    assert (seen["service"], seen["method"], seen["path"], seen["query"]) == (
        service,
        method,
        path,
        "a=1&b=two",
    )


async def test_unix_socket_upstreams_are_reached_the_same_way(gateway, upstreams):
    async with gateway(urls=upstreams.uds) as client:
        for method, path, service in ROUTED[::4]:
            response = await client.request(method, path)
            assert response.status_code == 200, response.text
            assert response.json()["service"] == service


async def test_trailing_slashes_are_tolerated(gateway):
    async with gateway() as client:
        proxied = await client.get("/api/v1/timelines/home/?limit=5")
        own = await client.get("/api/v1/instance/")
    assert proxied.status_code == 200
    assert (proxied.json()["path"], proxied.json()["query"]) == ("/api/v1/timelines/home", "limit=5")
    assert own.status_code == 200 and "uri" in own.json()


async def test_unknown_paths_are_a_json_404(gateway):
    async with gateway() as client:
        response = await client.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}


async def test_dot_segments_are_refused_not_resolved(served_gateway):
    """httpx resolves `..` when it builds a URL, after routing: so `/api/v1/statuses/../../x`
    would leave the route the table chose. Sent raw (clients like httpx normalise them first)."""
    origin = served_gateway()
    host, port = origin.removeprefix("http://").split(":")
    for target in ("/api/v1/statuses/../../admin", "/api/v1/statuses/%2e%2e/%2E%2E/admin"):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = (await reader.read()).decode()
        writer.close()
        assert response.startswith("HTTP/1.1 400"), response
        assert response.endswith('{"error":"Invalid path"}')


async def test_bodies_pass_through_untouched(gateway):
    form = "status=Hello+world&visibility=public&media_ids%5B%5D=1"
    async with gateway() as client:
        as_json = await client.post("/api/v1/statuses", json={"status": "héllo", "language": "fr"})
        as_form = await client.post(
            "/api/v1/statuses", content=form, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        multipart = await client.post(
            "/api/v1/statuses", data={"status": "multi"}, files={"f": ("a.txt", b"xyz")}
        )
    assert json.loads(as_json.json()["body"].encode("latin-1")) == {"status": "héllo", "language": "fr"}
    assert as_json.json()["headers"]["content-type"] == "application/json"
    assert as_form.json()["body"] == form
    assert b'name="status"\r\n\r\nmulti' in multipart.json()["body"].encode("latin-1")
    assert multipart.json()["headers"]["content-type"].startswith("multipart/form-data; boundary=")


FORGED = {
    "X-User-Id": "1",
    "X-User-Scopes": "admin:write read write",
    "X-App-Id": "999",
    "X-Token-Id": "stolen",
    "X-Client-Ip": "10.0.0.1",
    "X-Internal-Timestamp": "1",
    "X-Internal-Signature": "f" * 64,
    "X-User-Name": "root",
}


async def test_forged_identity_headers_never_reach_a_service(gateway):
    async with gateway() as client:
        response = await client.get("/api/v1/timelines/home", headers=FORGED)
    assert response.status_code == 200  # the service accepted the gateway's own signature
    seen = response.json()
    forged_values = set(FORGED.values())
    for name, value in seen["header_list"]:
        assert value not in forged_values, (name, value)
    assert "x-user-id" not in seen["headers"]
    assert "x-user-name" not in seen["headers"]
    assert seen["identity"] is None  # anonymous, whatever the client claimed
    assert seen["headers"]["x-client-ip"] == "198.51.100.7"  # the connection's peer


async def test_the_service_sees_a_valid_signature_over_what_it_received(gateway):
    async with gateway() as client:
        response = await client.delete("/api/v1/statuses/5%206?x=%C3%A9&id[]=1", headers=FORGED)
    seen = response.json()
    target = seen["path"] + "?" + seen["query"]
    assert verify_request(SECRET, "DELETE", target, seen["headers"], max_age=60)
    assert not verify_request(
        "another-secret-another-secret-xx", "DELETE", target, seen["headers"], max_age=60
    )


async def test_authenticated_identity_is_forwarded_signed_and_the_token_is_not(gateway):
    async with gateway(authenticator=TokenTable({ALICE_TOKEN: ALICE})) as client:
        response = await client.post(
            "/api/v1/statuses",
            json={"status": "hi"},
            headers={"Authorization": f"Bearer {ALICE_TOKEN}", **FORGED},
        )
    seen = response.json()
    assert response.status_code == 200
    assert seen["identity"] == {"user_id": 42, "scopes": ["read", "write"], "token_id": "tok-1"}
    assert seen["headers"]["x-app-id"] == "7"
    assert "authorization" not in seen["headers"]
    assert all(ALICE_TOKEN not in value for _, value in seen["header_list"])


async def test_a_token_in_the_query_authenticates_and_is_removed(gateway):
    async with gateway(authenticator=TokenTable({ALICE_TOKEN: ALICE})) as client:
        response = await client.get(f"/api/v1/notifications?limit=2&access_token={ALICE_TOKEN}&max_id=9")
    seen = response.json()
    assert seen["identity"]["user_id"] == 42
    assert seen["query"] == "limit=2&max_id=9"


async def test_an_invalid_token_is_refused_before_any_service(gateway):
    async with gateway() as client:
        response = await client.get("/api/v1/timelines/home", headers={"Authorization": "Bearer nope"})
        anonymous = await client.get("/api/v1/timelines/public")
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}
    assert anonymous.status_code == 200 and anonymous.json()["identity"] is None


async def test_tokens_and_passwords_never_reach_the_gateways_logs(gateway, capsys):
    """At INFO (every request logged), with tokens in each place clients put them, a refused
    token, a rate-limited one, and a password and client secret on their way to the users service."""
    valid, forged = "valid-token-4f1c9e", "forged-token-7b2d0a"
    password, basic = "a-password-9e3f71", "Basic Y2xpZW50LWlkOnNlY3JldC01YzhhMmQ="  # client-id:secret-5c8a2d
    rules = [RateLimitRule("api", "4/minute", key="ip")]
    bearer = {"Authorization": f"Bearer {valid}"}
    async with gateway(
        log_level="INFO", authenticator=TokenTable({valid: ALICE}), rate_limit_rules=rules
    ) as client:
        statuses = [
            (await client.get("/api/v1/accounts/1", headers=bearer)).status_code,
            (await client.get(f"/api/v1/notifications?access_token={valid}")).status_code,
            (
                await client.get("/api/v1/accounts/1", headers={"Authorization": f"Bearer {forged}"})
            ).status_code,
            (
                await client.post(
                    "/oauth/token",
                    data={"grant_type": "password", "username": "alice", "password": password},
                    headers={"Authorization": basic},
                )
            ).status_code,
            (await client.get(f"/api/v1/streaming/user?access_token={valid}")).status_code,
        ]
    assert statuses == [200, 200, 401, 200, 429]
    logged = capsys.readouterr().out
    assert "/api/v1/notifications" in logged and "rate_limited" in logged  # the log did capture them
    for secret in (valid, forged, password, basic.split()[1], "secret-5c8a2d"):
        assert secret not in logged, secret


async def test_oauth_client_basic_credentials_reach_the_token_endpoint_only(gateway):
    basic = {"Authorization": "Basic Y2xpZW50OnNlY3JldA=="}
    async with gateway() as client:
        token = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic)
        elsewhere = await client.get("/api/v1/timelines/public", headers=basic)
    assert token.json()["headers"]["authorization"] == basic["Authorization"]
    assert "authorization" not in elsewhere.json()["headers"]


async def test_hop_by_hop_headers_stay_on_their_hop_and_host_is_rewritten(gateway, upstreams):
    headers = {
        "Connection": "keep-alive, X-Private-Hop",
        "X-Private-Hop": "secret",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "X-Forwarded-For": "6.6.6.6",
        "Forwarded": "for=6.6.6.6",
        "X-Custom": "kept",
    }
    async with gateway() as client:
        seen = (await client.get("/api/v1/timelines/public", headers=headers)).json()["headers"]
    for name in ("x-private-hop", "keep-alive", "te", "forwarded"):
        assert name not in seen
    assert seen["x-custom"] == "kept"
    assert seen["host"] == upstreams.tcp["posts"].removeprefix("http://")
    assert seen["x-forwarded-for"] == "198.51.100.7"
    assert seen["x-forwarded-host"] == "gateway.test"
    assert seen["x-forwarded-proto"] == "http"


async def test_response_headers_come_back_including_repeated_ones(gateway):
    async with gateway() as client:
        response = await client.get("/api/v1/timelines/home?mode=cookies")
    assert sorted(response.headers.get_list("set-cookie")) == [
        "a=1; Path=/; SameSite=lax",
        "b=2; Path=/; SameSite=lax",
    ]
    assert response.headers["link"] == '<http://x/?max_id=1>; rel="next"'
    assert response.headers["content-length"] == str(len(response.content))


async def test_service_errors_pass_through_and_non_json_ones_become_json(gateway):
    async with gateway() as client:
        conflict = await client.get("/api/v1/statuses/1?mode=status&code=409")
        text = await client.get("/api/v1/statuses/1?mode=text-error")
    assert conflict.status_code == 409 and conflict.json() == {"error": "upstream said 409"}
    assert text.status_code == 500
    assert text.headers["content-type"] == "application/json"
    assert text.json() == {"error": "Internal Server Error"}


@pytest.mark.parametrize("transport", ["tcp", "uds"])
async def test_redirects_to_a_services_own_origin_point_at_the_gateway(gateway, upstreams, transport):
    async with gateway(urls=getattr(upstreams, transport)) as client:
        internal = await client.get("/oauth/authorize?mode=redirect")
        external = await client.get("/oauth/authorize?mode=external-redirect")
    assert internal.status_code == 302
    assert internal.headers["location"] == "http://gateway.test/oauth/authorize/native"
    assert external.headers["location"] == "https://app.example/callback?code=1"


async def test_request_framing_is_redone_for_the_service(gateway):
    async def chunks():
        yield b"abc"
        yield b"def"

    async with gateway() as client:
        sized = (await client.post("/api/v1/statuses", content=b"abcdef")).json()
        chunked = (await client.post("/api/v1/statuses", content=chunks())).json()
        empty = (await client.get("/api/v1/statuses/1")).json()
    assert sized["headers"]["content-length"] == "6" and "transfer-encoding" not in sized["headers"]
    assert chunked["headers"]["transfer-encoding"] == "chunked" and "content-length" not in chunked["headers"]
    assert sized["body"] == chunked["body"] == "abcdef"
    assert "content-length" not in empty["headers"] and "transfer-encoding" not in empty["headers"]


async def test_cookies_a_service_sets_are_never_sent_on_with_other_requests(gateway):
    """The gateway keeps no cookie jar: one client's cookies must not ride along with the next
    client's requests."""
    async with gateway() as client:
        setting = await client.get("/api/v1/timelines/home?mode=cookies")
        client.cookies.clear()  # this test client's own jar is not the gateway's
        later = (await client.get("/api/v1/timelines/home")).json()
    assert len(setting.headers.get_list("set-cookie")) == 2
    assert "cookie" not in later["headers"]


async def test_only_the_clients_own_headers_reach_the_service(served_gateway):
    """No client-library defaults are added on the way (an Accept-Encoding the client never sent
    would bring back a body compressed for nobody)."""
    origin = served_gateway()
    host, port = origin.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b"status=hi"
    writer.write(
        f"POST /api/v1/statuses HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    response = (await reader.read()).decode()
    writer.close()
    seen = json.loads(response.split("\r\n\r\n", 1)[1])
    for added in ("user-agent", "accept", "accept-encoding", "content-type"):
        assert added not in seen["headers"], added
    assert seen["body"] == "status=hi"


GATEWAY_OWN_PATHS = ["/health/live", "/health/ready", "/api/v1/instance", "/api/v2/instance"]


@pytest.mark.parametrize("path", [*GATEWAY_OWN_PATHS, "/instance/thumbnail.png"])
def test_the_route_table_claims_no_path_the_gateway_answers_itself(path):
    """Routed paths go to the proxy before the framework's router sees them."""
    for method in ("GET", "HEAD"):
        assert resolve(method, path) is None


async def test_header_values_reach_the_service_byte_for_byte(gateway):
    async with gateway() as client:
        seen = (await client.get("/api/v1/timelines/public", headers={"X-Title": "héllo ✓".encode()})).json()
    assert seen["headers"]["x-title"].encode("latin-1") == "héllo ✓".encode()  # the service's view is latin-1


async def test_pages_go_to_the_web_ui_and_the_api_keeps_its_json_404(gateway):
    async with gateway() as client:
        home = await client.get("/")
        head = await client.head("/")
        page = await client.post("/auth/sign_out", content=b"authenticity_token=x")
        cookies = await client.get("/settings?mode=cookies")
        api = await client.get("/api/v1/nothing")
    assert home.status_code == 200 and home.json()["service"] == "web"
    assert head.status_code == 200
    assert page.json()["service"] == "web" and page.json()["method"] == "POST"
    assert page.json()["body"] == "authenticity_token=x"
    # The session cookie travels both ways.
    set_cookies = cookies.headers.get_list("set-cookie")
    assert set_cookies == ["a=1; Path=/; SameSite=lax", "b=2; Path=/; SameSite=lax"]
    assert api.status_code == 404 and api.json() == {"error": "Record not found"}
