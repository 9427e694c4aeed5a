"""`/health/live` (the gateway answers) and `/health/ready` (every service behind it is ready):
each service's own `/health/ready` must answer 200, and the body lists each one's state."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import APIRouter

from gateway.upstreams import Upstream
from microblog_common.health import ReadinessCheck, health_router


class NotReady(Exception):
    pass


def upstream_check(
    client: Callable[[], httpx.AsyncClient], upstream: Upstream, timeout: float
) -> ReadinessCheck:
    async def check() -> None:
        try:
            response = await client().get(upstream.base_url + "/health/ready", timeout=timeout)
        except httpx.TimeoutException as exc:
            raise NotReady(f"no answer within {timeout:g}s") from exc
        except httpx.TransportError as exc:
            raise NotReady(f"unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise NotReady(f"answered {response.status_code}")

    return check


def gateway_health_router(
    client: Callable[[], httpx.AsyncClient], upstreams: dict[str, Upstream], timeout: float
) -> APIRouter:
    """`client` is looked up per check: the pooled client only exists while the app runs."""
    checks = {name: upstream_check(client, upstream, timeout) for name, upstream in upstreams.items()}
    return health_router(checks, timeout=timeout + 1)
