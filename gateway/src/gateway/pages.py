"""The page at `/`. The web UI is a later piece of work; until then this says so (a placeholder,
not an error), and points at what already works."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from gateway.settings import Settings

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem;
         color: #1f2937; line-height: 1.5; }}
  h1 {{ color: #312e81; }}
  code {{ background: #eef2ff; padding: 0 .25rem; border-radius: .25rem; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{description}</p>
<p>The web interface is not here yet. The Mastodon client API already is: point a Mastodon app
or library at this address, or start with <a href="/api/v2/instance"><code>/api/v2/instance</code></a>.</p>
</body>
</html>
"""


def pages_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    page = _PAGE.format(
        title=escape(settings.instance_title), description=escape(settings.instance_description)
    )

    @router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def home() -> HTMLResponse:
        return HTMLResponse(page)

    return router
