import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from microblog_common.errors import Conflict, install_error_handlers


class Body(BaseModel):
    status: str = Field(min_length=1)
    limit: int = 20


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    def create(body: Body):
        if body.status == "dup":
            raise Conflict("Already exists")
        return {"ok": True}

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaput")

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_business_errors_render_as_mastodon_errors(client):
    r = await client.post("/things", json={"status": "dup"})
    assert r.status_code == 409 and r.json() == {"error": "Already exists"}


async def test_validation_errors_are_422_in_the_same_shape(client):
    r = await client.post("/things", json={"status": "", "limit": "many"})
    assert r.status_code == 422
    body = r.json()
    assert body["error"].startswith("Validation failed")
    assert {d["field"] for d in body["details"]} == {"status", "limit"}


async def test_unknown_routes_are_json_404(client):
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}


async def test_unexpected_errors_are_json_500_without_internals(client):
    r = await client.get("/boom")
    assert r.status_code == 500 and r.json() == {"error": "Internal server error"}
