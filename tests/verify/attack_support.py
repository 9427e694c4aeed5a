"""What the attack rows (`test_attack.py`) share: the catalogue of what they attack, taken from the
code rather than a hand-kept list, and the world they attack (one microblog with a process per
service over PostgreSQL and RabbitMQ, a victim with things to steal and an attacker).

The catalogue is known when pytest collects (each endpoint is a case of each row), so it is built
in this process the way the gateway builds `/api/openapi.json`: every service's routers documented
by `microblog_common.openapi.document` and merged by `gateway.openapi.merge` (only what the route
table sends to that service). The running gateway's own document is compared with it when the
world starts, so the two can't drift apart. The web UI's pages come from the web service's routers."""

from __future__ import annotations

import base64
import importlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from devstack.stack import SERVICES, LocalStack
from gateway.openapi import merge
from microblog_common.openapi import document

METHODS = ("get", "put", "post", "delete", "patch")
OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "correct horse battery staple"
FULL_SCOPES = "read write follow"
# Paths the gateway answers itself for anyone (probes): no token is ever looked at there.
OPEN_PREFIXES = ("/health/",)


@dataclass(frozen=True)
class Operation:
    """One operation of the public API, as its OpenAPI document describes it."""

    method: str  # upper case
    path: str  # the template: /api/v1/statuses/{status_id}
    service: str
    auth: str | None  # "required", "optional" or None (no token needed)
    scopes: tuple[str, ...]
    has_body: bool

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class WebRoute:
    method: str
    path: str  # /@{username}/{status_id}

    @property
    def id(self) -> str:
        return f"web {self.method} {self.path}"


def _security(operation: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    requirements = operation.get("security")
    if requirements is None:
        return None, ()
    scopes = tuple(s for r in requirements for name, found in r.items() if name == "oauth2" for s in found)
    return ("optional" if {} in requirements else "required"), scopes


def operations_of(doc: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in sorted(doc.get("paths", {}).items()):
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            tags = operation.get("tags") or []
            auth, scopes = _security(operation)
            found.append(
                Operation(
                    method.upper(),
                    path,
                    tags[0] if tags and tags[0] in SERVICES else "gateway",
                    auth,
                    scopes,
                    "requestBody" in operation,
                )
            )
    return found


def _service_routes(service: str) -> list[Any]:
    spec = importlib.import_module(f"{service}.app").SPEC
    return [route for router in spec.routers for route in router.routes]


@cache
def api_operations() -> tuple[Operation, ...]:
    """Every operation the services serve through the gateway (the gateway's own, its instance and
    health endpoints, are public and hold nothing of anyone's)."""
    merged: dict[str, Any] = {}
    for service in SERVICES:
        if service == "web":
            continue
        routes = _service_routes(service)
        merge(merged, service, document(get_openapi(title=service, version="0", routes=routes), routes))
    return tuple(operations_of(merged))


@cache
def web_routes() -> tuple[WebRoute, ...]:
    found = []
    for route in _service_routes("web"):
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods or ()):
            if method in ("GET", "POST"):
                found.append(WebRoute(method, re.sub(r":int\}", "}", route.path)))
    return tuple(found)


# -- requests ----------------------------------------------------------------------------------


def fill(template: str, values: dict[str, str]) -> str:
    """The path with each `{name}` replaced by the world's value of that name."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"no value for path parameter {name!r} in {template}"
        return values[name]

    return re.sub(r"\{([^}]+)\}", value, template)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_error(response: httpx.Response, status: int | tuple[int, ...]) -> bool:
    """The status is one of `status`, and the body the API's error format."""
    statuses = (status,) if isinstance(status, int) else status
    if response.status_code not in statuses:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str) and bool(body["error"])


def describe(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url.raw_path.decode()} -> {response.status_code} {response.text[:300]}"


def stays_on_site(location: str, base: str) -> bool:
    """A redirect a browser follows to this site only: a path (never `//host` or `/\\host`, which
    browsers read as another host), or an absolute URL of this very origin."""
    if any(ch in location for ch in "\\\t\r\n"):
        return False
    if location.startswith("/"):
        return not location.startswith("//")
    target, here = urlsplit(urljoin(base, location)), urlsplit(base)
    return (target.scheme, target.netloc) == (here.scheme, here.netloc)


# -- tokens ------------------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def token_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


@dataclass
class Forger:
    """Tokens made from a real one's claims: `signed()` with the real key is accepted (the control),
    each forgery differs from it in one way."""

    claims: dict[str, Any]
    kid: str
    key: Ed25519PrivateKey

    def signed(self, signer: Ed25519PrivateKey | None = None, **changes: Any) -> str:
        headers = {"kid": self.kid, "typ": "at+jwt"}
        return jwt.encode({**self.claims, **changes}, signer or self.key, algorithm="EdDSA", headers=headers)

    def forgeries(self) -> dict[str, str]:
        now = int(time.time())
        return {
            "expired": self.signed(iat=now - 7200, exp=now - 3600),
            "wrong signature": self.signed(signer=Ed25519PrivateKey.generate()),
            "alg none": f"{_b64({'alg': 'none', 'kid': self.kid, 'typ': 'JWT'})}.{_b64(self.claims)}.",
            "wrong audience": self.signed(aud="https://elsewhere.example"),
        }


# -- pages -------------------------------------------------------------------------------------


class PageScan(HTMLParser):
    """A page as a browser would run it: its text, its scripts, and any attribute that runs code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[tuple[str, str, str | None]] = []  # (tag, attribute, value)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name, value))
            if name in ("href", "src", "action", "formaction") and value:
                self.urls.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join("".join(self.text).split())


def scan(html: str) -> PageScan:
    page = PageScan()
    page.feed(html)
    page.close()
    return page


def runs_no_code_of(html: str, payload: str) -> list[str]:
    """What is wrong with how `html` shows `payload`: empty when the payload is in its text and no
    script, event handler or `javascript:` URL but our own is in it."""
    page = scan(html)
    problems = []
    if " ".join(payload.split()) not in page.all_text:
        problems.append("the payload is not shown as text")
    foreign = [s for s in page.scripts if not (s.get("src") or "").startswith("/static/")]
    if foreign:
        problems.append(f"scripts not ours: {foreign}")
    if page.handlers:
        problems.append(f"event handler attributes: {page.handlers}")
    if any(url.strip().lower().startswith("javascript:") for url in page.urls):
        problems.append("a javascript: URL")
    return problems


def csrf_token(html: str) -> str:
    match = re.search(r'name="authenticity_token" value="([^"]+)"', html)
    assert match, html[-2000:]
    return match.group(1)


def browser(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Accept": "text/html", "Origin": base}, timeout=30)


def web_sign_in(base: str, username: str) -> httpx.Client:
    """A browser signed in to the web UI the way a person does (the authorization-code flow through
    the API's own sign-in and consent page)."""
    from html import unescape

    client = browser(base)
    start = client.get("/auth/sign_in")
    assert start.status_code in (302, 303, 307), describe(start)
    consent = client.get(start.headers["location"])
    fields = {
        k: unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text)
    }
    granted = client.post(
        "/oauth/authorize", data={**fields, "username": username, "password": PASSWORD, "decision": "approve"}
    )
    assert granted.status_code == 302, describe(granted)
    back = client.get(granted.headers["location"])
    assert back.status_code == 303 and back.headers["location"] == "/home", describe(back)
    return client


# -- accounts ----------------------------------------------------------------------------------


@dataclass
class App:
    id: str
    client_id: str
    client_secret: str


@dataclass
class Account:
    id: str
    username: str
    token: str  # read write follow
    read_token: str  # read only
    write_token: str  # write follow, no read
    app: App
    browser: httpx.Client | None = field(default=None, repr=False)

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token)


def make_app(api: httpx.Client, name: str) -> App:
    r = api.post("/api/v1/apps", json={"client_name": name, "redirect_uris": OOB, "scopes": FULL_SCOPES})
    assert r.status_code == 200, describe(r)
    body = r.json()
    return App(str(body["id"]), body["client_id"], body["client_secret"])


def password_token(api: httpx.Client, app: App, username: str, scope: str) -> str:
    r = api.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "username": f"{username}@example.com",
            "password": PASSWORD,
            "scope": scope,
        },
    )
    assert r.status_code == 200, describe(r)
    return str(r.json()["access_token"])


def register(api: httpx.Client, app: App, prefix: str) -> Account:
    granted = api.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "scope": FULL_SCOPES,
        },
    )
    assert granted.status_code == 200, describe(granted)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    created = api.post(
        "/api/v1/accounts",
        headers=bearer(granted.json()["access_token"]),
        json={
            "username": name,
            "email": f"{name}@example.com",
            "password": PASSWORD,
            "agreement": True,
            "locale": "en",
        },
    )
    assert created.status_code == 200, describe(created)
    token = created.json()["access_token"]
    me = api.get("/api/v1/accounts/verify_credentials", headers=bearer(token))
    assert me.status_code == 200, describe(me)
    return Account(
        id=str(me.json()["id"]),
        username=name,
        token=token,
        read_token=password_token(api, app, name, "read"),
        write_token=password_token(api, app, name, "write follow"),
        app=app,
    )


def live_operations(base: str) -> Iterator[tuple[str, str]]:
    doc = httpx.get(f"{base}/api/openapi.json", timeout=30).json()
    for op in operations_of(doc):
        if op.service != "gateway":
            yield op.method, op.path


def stack_secret(stack: LocalStack) -> str:
    return stack.internal_secret
