import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

from microblog_common.errors import (
    ERR_INCLUSION,
    ERR_TAKEN,
    ERR_TOO_LONG,
    Conflict,
    ValidationErrorResponse,
    ValidationErrors,
    install_error_handlers,
    invalid,
)


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

    @app.post("/upload")
    async def upload(request: Request):
        await request.body()
        return {}

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_business_errors_render_as_mastodon_errors(client):
    r = await client.post("/things", json={"status": "dup"})
    assert r.status_code == 409 and r.json() == {"error": "Already exists"}


async def test_validation_errors_are_422_in_mastodons_shape(client):
    r = await client.post("/things", json={"status": "", "limit": "many"})
    assert r.status_code == 422
    assert r.json() == {
        "error": "Validation failed: Status can't be blank, Limit is invalid",
        "details": {
            "status": [{"error": "ERR_BLANK", "description": "can't be blank"}],
            "limit": [{"error": "ERR_INVALID", "description": "is invalid"}],
        },
    }


async def test_a_body_of_the_wrong_type_is_a_base_error(client):
    r = await client.post("/things", json=[1, 2])
    assert r.status_code == 422 and set(r.json()["details"]) == {"base"}


def test_services_build_the_same_shape_with_the_helper():
    errors = ValidationErrors().add("username", ERR_TAKEN).add("source.privacy", ERR_INCLUSION)
    assert errors.error().message == (
        "Validation failed: Username has already been taken, Source privacy is not included in the list"
    )
    assert errors.details == {
        "username": [{"error": "ERR_TAKEN", "description": "has already been taken"}],
        "source.privacy": [{"error": "ERR_INCLUSION", "description": "is not included in the list"}],
    }
    single = invalid("status", ERR_TOO_LONG, "is too long (maximum is 500 characters)", message="Too long")
    assert single.status_code == 422 and single.message == "Too long"
    assert ValidationErrorResponse.model_validate({"error": single.message, "details": single.details})


async def test_unknown_routes_are_json_404(client):
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}


async def test_a_client_leaving_mid_body_is_no_server_error():
    async def receive():
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/upload", "headers": [], "query_string": b""}
    await _app()(scope, receive, send)
    assert sent[0]["status"] == 400


async def test_unexpected_errors_are_json_500_without_internals(client):
    r = await client.get("/boom")
    assert r.status_code == 500 and r.json() == {"error": "Internal server error"}


# -- a database that can't answer right now ------------------------------------------------------


def _database_app(url: str):
    from sqlalchemy import text

    from microblog_common.db import Database, SessionDep
    from microblog_common.db_errors import install_database_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    install_database_error_handlers(app)
    app.state.db = Database(url)

    @app.post("/cut")
    def cut(session: SessionDep):
        # What a failover or `pg_terminate_backend` from outside does to a request in flight.
        session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return {"ok": True}

    @app.post("/deadlock")
    def deadlock(session: SessionDep):
        # The error PostgreSQL raises in the loser of a deadlock (SQLSTATE 40P01), from the server.
        session.execute(text("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$"))
        return {"ok": True}

    @app.post("/broken")
    def broken(session: SessionDep):
        session.execute(text("SELECT * FROM no_such_table"))
        return {"ok": True}

    @app.get("/ok")
    def ok(session: SessionDep):
        return {"one": session.execute(text("SELECT 1")).scalar_one()}

    return app


@pytest.mark.postgres
async def test_a_cut_connection_or_a_deadlock_is_a_503_to_retry_and_the_next_request_works(pg_url):
    app = _database_app(pg_url)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for path in ("/cut", "/deadlock"):
                r = await c.post(path)
                assert r.status_code == 503, (path, r.text)
                assert r.json() == {"error": "The database is unavailable right now; try again in a moment"}
                assert r.headers["retry-after"] == "1"
                assert (await c.get("/ok")).json() == {"one": 1}  # the pool reconnects by itself
            # A query that can never work is a bug, not an outage: still the 500.
            r = await c.post("/broken")
            assert r.status_code == 500 and r.json() == {"error": "Internal server error"}
    finally:
        app.state.db.dispose()
