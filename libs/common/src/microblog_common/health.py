"""`/health/live` (the process answers) and `/health/ready` (its dependencies answer).

Readiness depends on `checks` only; `reports` are states worth showing (the broker, for an API
whose event work may run elsewhere) that don't make the process unready."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[None]]
Report = Callable[[], str]


def health_router(
    checks: dict[str, ReadinessCheck], timeout: float = 3.0, reports: dict[str, Report] | None = None
) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        results: dict[str, str] = {}

        async def run(name: str, check: ReadinessCheck) -> None:
            try:
                with anyio.fail_after(timeout):
                    await check()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"error: {type(exc).__name__}: {exc}"[:300]

        # Concurrently, so one slow dependency costs one timeout, not one per check.
        async with anyio.create_task_group() as tg:
            for name, check in checks.items():
                tg.start_soon(run, name, check)
        results = {name: results[name] for name in checks}
        healthy = all(v == "ok" for v in results.values())
        body: dict[str, Any] = {"status": "ok" if healthy else "unavailable", "checks": results}
        if reports:
            body["reports"] = {name: report() for name, report in reports.items()}
        return JSONResponse(body, status_code=200 if healthy else 503)

    return router
