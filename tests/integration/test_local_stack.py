"""The local-processes stack: six services and the gateway as separate uvicorn processes over the
test session's PostgreSQL and RabbitMQ. Proves the stack comes up whole and that a service trusts
only what the gateway signed."""

from __future__ import annotations

import httpx
import pytest

from devstack.stack import SERVICES, LocalStack
from microblog_common.internal_auth import HEADER_SCOPES, HEADER_TOKEN_ID, HEADER_USER_ID, sign_request

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

PUBLIC_PATH = "/api/v1/timelines/public"  # answered by posts, no token needed
FORGED_IDENTITY = {HEADER_USER_ID: "1", HEADER_TOKEN_ID: "1", HEADER_SCOPES: "read write follow"}


@pytest.fixture(scope="module")
def stack(postgres_server, rabbitmq_server, tmp_path_factory):
    with LocalStack(
        tmp_path_factory.mktemp("local-stack"), postgres=postgres_server, rabbitmq=rabbitmq_server
    ) as running:
        yield running


@pytest.fixture
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def test_gateway_is_ready_and_sees_every_service_ready(stack, client):
    response = client.get(f"{stack.gateway_url}/health/ready")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert {name: checks.get(name) for name in SERVICES} == {name: "ok" for name in SERVICES}


def test_every_service_is_its_own_ready_process(stack, client):
    assert len({stack.pid(name) for name in (*SERVICES, "gateway")}) == len(SERVICES) + 1
    for name, url in stack.service_urls.items():
        response = client.get(f"{url}/health/ready")
        assert response.status_code == 200, f"{name}: {response.text}"
        assert response.json()["checks"] == {"database": "ok"}
        assert response.json()["reports"] == {"broker": "ok"}


def test_forged_identity_straight_to_a_service_is_refused(stack, client):
    response = client.get(stack.service_urls["posts"] + PUBLIC_PATH, headers=FORGED_IDENTITY)
    assert response.status_code == 403
    assert "gateway" in response.json()["error"]


def test_identity_signed_with_another_secret_is_refused(stack, client):
    headers = sign_request("x" * 48, "GET", PUBLIC_PATH, FORGED_IDENTITY)
    response = client.get(stack.service_urls["posts"] + PUBLIC_PATH, headers=headers)
    assert response.status_code == 403


def test_the_same_request_through_the_gateway_is_served(stack, client):
    through = client.get(stack.gateway_url + PUBLIC_PATH, headers=FORGED_IDENTITY)
    assert through.status_code != 403, through.text
    # The gateway dropped the forged identity and signed the request as anonymous: the service
    # answers exactly as it does to an anonymous request signed with the stack's secret.
    headers = sign_request(stack.internal_secret, "GET", PUBLIC_PATH, {})
    direct = client.get(stack.service_urls["posts"] + PUBLIC_PATH, headers=headers)
    assert direct.status_code != 403, direct.text
    assert (through.status_code, through.json()) == (direct.status_code, direct.json())


def test_a_killed_service_makes_the_gateway_unready_until_it_is_back(stack, client):
    stack.kill_service("posts")
    response = client.get(f"{stack.gateway_url}/health/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["posts"] != "ok"
    assert all(checks[name] == "ok" for name in SERVICES if name != "posts")

    stack.start_service("posts")  # same port, so the gateway's address for it still holds
    assert client.get(f"{stack.gateway_url}/health/ready").status_code == 200
