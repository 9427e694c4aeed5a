"""`GET /api/openapi.json`: the services' own documents merged by the route table (only what is
routed to each service, internal endpoints never), schema names kept apart, the gateway's own
endpoints and security schemes added, a service that is down left out and asked again next time."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

from gateway.openapi import merge, routed_to
from microblog_common.internal_auth import InternalAuthMiddleware, require_user
from microblog_common.openapi import install_openapi
from microblog_common.params import body

from .conftest import SECRET, free_port


class Thing(BaseModel):
    name: str


class StatusForm(BaseModel):
    status: str


def _service(name: str) -> FastAPI:
    """A small service documented by the shared library, as a real service is."""
    app = FastAPI(title=name)
    if name == "users":

        @app.get("/api/v1/accounts/{account_id}", response_model=Thing)
        def account(account_id: str) -> Thing:
            return Thing(name="a")

        @app.get("/internal/accounts/{account_id}", response_model=Thing)
        def internal(account_id: str) -> Thing:
            return Thing(name="hidden")

    else:
        from fastapi import Depends

        @app.post("/api/v1/statuses", response_model=Thing)
        def post(form: StatusForm = body(StatusForm), _=Depends(require_user("write:statuses"))) -> Thing:
            return Thing(name=form.status)

        @app.get("/api/v1/accounts/{account_id}", response_model=Thing)  # routed to users, not here
        def shadow(account_id: str) -> Thing:
            return Thing(name="b")

    install_openapi(app)
    app.add_middleware(InternalAuthMiddleware, secret=SECRET)
    return app


def test_the_route_table_decides_which_service_documents_a_path():
    assert routed_to("/api/v1/accounts/{account_id}/statuses", "get") == "posts"
    assert routed_to("/api/v1/accounts/{account_id}", "get") == "users"
    assert routed_to("/internal/accounts/{account_id}", "get") is None


def test_clashing_schema_names_are_kept_apart():
    base = {"paths": {}, "components": {"schemas": {"Thing": {"type": "object", "title": "A"}}}}
    theirs = {
        "paths": {"/api/v1/statuses": {"post": {"responses": {"200": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Thing"}}}}}}}},
        "components": {"schemas": {"Thing": {"type": "object", "title": "B"}}},
    }  # fmt: skip
    merge(base, "posts", theirs)
    assert base["components"]["schemas"]["posts_Thing"]["title"] == "B"
    assert base["components"]["schemas"]["Thing"]["title"] == "A"
    response = base["paths"]["/api/v1/statuses"]["post"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/posts_Thing"}


async def test_the_public_document_merges_what_is_routed_and_retries_services_that_were_down(
    gateway, upstreams
):
    users_port, posts_port = free_port(), free_port()
    started = [upstreams.servers.start(_service("users"), port=users_port)]
    # Nothing listens on posts' port yet.
    urls = {
        **upstreams.tcp,
        "users": f"http://127.0.0.1:{users_port}",
        "posts": f"http://127.0.0.1:{posts_port}",
    }
    try:
        async with gateway(urls=urls) as client:
            first = await client.get("/api/openapi.json")
            assert first.status_code == 200
            doc = first.json()
            assert "/api/v1/accounts/{account_id}" in doc["paths"]
            assert "/internal/accounts/{account_id}" not in doc["paths"]
            assert "/api/v1/statuses" not in doc["paths"]  # posts is down: left out, no error
            assert {"/api/v1/instance", "/api/v2/instance", "/health/ready"} <= set(doc["paths"])
            assert doc["paths"]["/api/v1/accounts/{account_id}"]["get"]["tags"][0] == "users"

            started.append(upstreams.servers.start(_service("posts"), port=posts_port))
            doc = (await client.get("/api/openapi.json")).json()  # asked again: there now
        post = doc["paths"]["/api/v1/statuses"]["post"]
        assert set(post["requestBody"]["content"]) == {
            "application/json", "application/x-www-form-urlencoded", "multipart/form-data"
        }  # fmt: skip
        assert {"oauth2": ["write:statuses"]} in post["security"]
        assert post["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ValidationErrorResponse"
        }
        # posts' own GET /api/v1/accounts/{id} is not what the gateway routes there: users' stays.
        assert doc["paths"]["/api/v1/accounts/{account_id}"]["get"]["tags"][0] == "users"
        assert doc["components"]["securitySchemes"]["oauth2"]["flows"]["password"]["scopes"] == {
            "write:statuses": "write:statuses"
        }
    finally:
        upstreams.servers.stop(*started)
