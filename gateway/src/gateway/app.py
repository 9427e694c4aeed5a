"""The gateway's app factory: `uvicorn --factory gateway.app:create_app`.

`create_app()` does no I/O. The lifespan opens the proxy's connection pools and the pooled httpx
client for the gateway's own calls, and closes them at shutdown.

Layers, outermost first (each answer passes back out through the ones above it):
  request ids -> trailing slashes -> CORS -> trusted proxies -> access (token, rate limits)
  -> the HTTP proxy for every path the route table gives to a service; the rest to the framework's
  router: the gateway's own endpoints, the WebSocket bridge, the 404 for everything else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import version as package_version
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import start_http_server
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway.access import AccessMiddleware
from gateway.auth import Authenticator
from gateway.facts import FactsKeeper
from gateway.health import gateway_health_router
from gateway.instance import instance_router, public_origin
from gateway.openapi import PublicDocument
from gateway.paths import TrailingSlashMiddleware, has_dot_segment
from gateway.proxy import BodyLimits, Proxy, ProxyMiddleware
from gateway.ratelimit import RateLimiter, RateLimitRule, default_rules
from gateway.settings import Settings
from gateway.streams import OpenStreams
from gateway.tokens import TokenVerifier
from gateway.upstreams import build_http_client
from gateway.websocket_bridge import WebSocketBridge
from microblog_common.allocator import limit_arenas
from microblog_common.errors import error_body, install_error_handlers
from microblog_common.internal_auth import sign_request
from microblog_common.logging import configure_logging
from microblog_common.metrics import MetricsMiddleware
from microblog_common.request_context import RequestContextMiddleware
from microblog_common.tracing import TracingMiddleware, configure_tracing

log = structlog.get_logger(__name__)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# What a browser script on another origin may read from a response (Mastodon exposes these).
EXPOSED_HEADERS = ["Link", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-Id"]


def create_app(
    settings: Settings | None = None,
    *,
    authenticator: Authenticator | None = None,
    rate_limit_rules: Sequence[RateLimitRule] | None = None,
) -> FastAPI:
    """`authenticator` verifies bearer tokens (default: JWTs checked against the users service's
    keys and revocation feed). `rate_limit_rules` replaces the default rules built from the settings."""
    settings = settings or Settings()
    limit_arenas()  # before the app's threads exist (`microblog_common.allocator`)
    upstreams = settings.upstreams()
    secret = settings.internal_secret.get_secret_value()
    if rate_limit_rules is None:
        rate_limit_rules = default_rules(
            settings.rate_limit_default,
            settings.rate_limit_health,
            settings.rate_limit_sign_in,
            settings.rate_limit_registration,
            settings.rate_limit_pages,
        )

    async def fetch_from(service: str, target: str) -> dict[str, Any]:
        """A signed GET of the gateway's own to a service, over the pooled client."""
        headers = sign_request(secret, "GET", target, {})
        response = await app.state.http_client.get(
            upstreams[service].base_url + target, headers=headers, timeout=5.0
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def fetch_from_users(target: str) -> dict[str, Any]:
        return await fetch_from("users", target)

    streams = OpenStreams()
    if authenticator is None:
        authenticator = TokenVerifier(
            fetch_from_users,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            revocation_poll_seconds=settings.token_revocation_poll_seconds,
            status_ttl_seconds=settings.token_status_ttl_seconds,
        )
    # An authenticator that learns of revocations says so through `on_revoked`: its streams end.
    revoked_callbacks = getattr(authenticator, "on_revoked", None)
    if isinstance(revoked_callbacks, list):
        revoked_callbacks.append(streams.end)
    facts = FactsKeeper(fetch_from, settings.instance_facts_refresh_seconds)

    proxy = Proxy(
        upstreams,
        secret,
        timeout=settings.upstream_timeout_seconds,
        connect_timeout=settings.upstream_connect_timeout_seconds,
        max_connections=settings.upstream_max_connections,
        limits=BodyLimits(
            max_body_bytes=settings.max_body_bytes,
            max_upload_body_bytes=settings.max_upload_body_bytes,
            max_json_depth=settings.max_json_depth,
        ),
        streams=streams,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(level=settings.log_level, json=settings.log_json)
        await proxy.start()
        client = build_http_client(
            upstreams,
            connect_timeout=settings.upstream_connect_timeout_seconds,
            timeout=settings.upstream_timeout_seconds,
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_keepalive_connections,
        )
        app.state.settings = settings
        app.state.http_client = client
        app.state.proxy = proxy
        if isinstance(authenticator, TokenVerifier):
            await authenticator.start()
        await facts.start()
        metrics_server = (
            start_http_server(settings.metrics_port, settings.metrics_host)
            if settings.metrics_port is not None
            else None
        )
        log.info("gateway_started", upstreams={n: u.socket_path or u.base_url for n, u in upstreams.items()})
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server[0].shutdown()
            await facts.stop()
            if isinstance(authenticator, TokenVerifier):
                await authenticator.stop()
            await client.aclose()
            await proxy.close()
            log.info("gateway_stopped")

    app = FastAPI(
        title="Microblog gateway",
        version=package_version("microblog-gateway"),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    app.include_router(
        gateway_health_router(lambda: app.state.http_client, upstreams, settings.health_check_timeout_seconds)
    )
    app.include_router(instance_router(settings, lambda: facts.facts))
    # The API's services only: the web UI's pages are not part of the API.
    api_services = {name: upstream for name, upstream in upstreams.items() if name != "web"}
    public_document = PublicDocument(app, api_services, secret, lambda: app.state.http_client)

    @app.get("/api/openapi.json", include_in_schema=False)
    async def openapi_document(request: Request) -> JSONResponse:
        """The public API: the services' documents merged (see `openapi.py`)."""
        return JSONResponse(await public_document.render(public_origin(settings, request)))

    async def not_routed(request: Request) -> JSONResponse:
        """What reaches the router that is neither the gateway's nor in the route table."""
        if has_dot_segment(request.url.path):
            return JSONResponse(error_body("Invalid path"), status_code=400)
        return JSONResponse(error_body("Record not found"), status_code=404)

    bridge = WebSocketBridge(
        upstreams, secret, open_timeout=settings.upstream_timeout_seconds, streams=streams
    )
    app.router.add_websocket_route("/api/v1/streaming", bridge.serve)
    app.router.add_websocket_route("/api/v1/streaming/{rest:path}", bridge.serve)
    app.router.add_route("/{path:path}", not_routed, methods=ALL_METHODS, include_in_schema=False)

    # add_middleware wraps what is already there, so the last one added is the outermost.
    app.add_middleware(ProxyMiddleware, proxy=proxy)
    app.add_middleware(
        AccessMiddleware,
        authenticator=authenticator,
        limiter=RateLimiter(rate_limit_rules, settings.rate_limit_storage_uri)
        if settings.rate_limit_enabled
        else None,
        secret=secret,
        signature_max_age=settings.internal_signature_max_age_seconds,
    )
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=86400,
    )
    app.add_middleware(TrailingSlashMiddleware)
    # Proxied requests are labelled by their route-table entry (the proxy sets scope["route"]).
    app.add_middleware(MetricsMiddleware, service="gateway")
    app.add_middleware(RequestContextMiddleware, service="gateway", trust_incoming_ids=False)
    if configure_tracing("gateway"):
        app.add_middleware(TracingMiddleware, service="gateway", continue_incoming=False)
    return app
