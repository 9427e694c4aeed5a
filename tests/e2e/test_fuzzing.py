"""A schema fuzzer against the public API, as a stranger with a token would use it: schemathesis
generates requests from the gateway's own `/api/openapi.json` (valid ones and ones that break the
schema: wrong types, missing fields, odd characters), signed in as one of two real accounts, and
checks every answer: never a 5xx, and always what the document says (status code, content type,
body schema, the error format included). Deterministic (derandomized).

The document is checked in both run modes; the fuzzer runs here in the embedded mode only (SQLite,
the in-process bus: `make run`). Over a process per service on PostgreSQL and RabbitMQ it runs in
the verify suite, at 5,000+ requests with stateful scenarios and cross-account checks
(`tests/verify/test_fuzzing.py`)."""

from __future__ import annotations

import itertools
from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.stack import SERVICES
from tests.e2e.test_mastodon_accounts import PASSWORD, SCOPES, _register

# Requests in the embedded mode (the verify suite sends 5,000+ to the local-processes mode).
REQUESTS = 600
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def tokens(microblog) -> list[str]:
    from mastodon import Mastodon

    creds = Mastodon.create_app("fuzzer", scopes=SCOPES, redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                                api_base_url=microblog.url)  # fmt: skip
    found = []
    for prefix in ("fuzz_a", "fuzz_b"):
        api, name = _register(microblog, creds, prefix)
        api.log_in(f"{name}@example.com", PASSWORD, scopes=SCOPES, allow_http=True)
        found.append(api.access_token)
    return found


def test_the_document_is_valid_and_covers_every_service(microblog):
    doc = httpx.get(f"{microblog.url}/api/openapi.json", timeout=30).json()
    schemathesis.openapi.from_dict(doc)  # refuses a document that breaks the OpenAPI spec
    tags = {tag for item in doc["paths"].values() for op in item.values() if isinstance(op, dict)
            for tag in op.get("tags", [])}  # fmt: skip
    assert {"users", "posts"} <= tags
    assert "/internal/accounts/{account_id}" not in doc["paths"]  # never routed publicly
    post = doc["paths"]["/api/v1/statuses"]["post"]
    assert set(post["requestBody"]["content"]) == {
        "application/json", "application/x-www-form-urlencoded", "multipart/form-data"
    }  # fmt: skip
    assert post["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationErrorResponse"
    }
    assert {"bearerAuth", "oauth2"} == set(doc["components"]["securitySchemes"])
    # The services' links survive the merge and point at operations of the merged document.
    links = doc["paths"]["/api/v1/notifications"]["get"]["responses"]["200"]["links"]
    for link in links.values():
        path, method = link["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
        assert method in doc["paths"][path.replace("~1", "/").replace("~0", "~")], link


@pytest.mark.parametrize("microblog", ["embedded"], indirect=True, scope="session")
def test_fuzzing_finds_no_server_error_and_no_answer_outside_the_document(microblog, tokens):
    doc = httpx.get(f"{microblog.url}/api/openapi.json", timeout=30).json()
    # The origin (its port) is all that differs between runs; without it the same document gives
    # the same requests every time (derandomized).
    doc.pop("servers", None)
    schema = schemathesis.openapi.from_dict(doc)
    strategy = schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(GenerationMode.NEGATIVE)
    who = itertools.cycle(tokens)
    sent = []
    answered: Counter[int] = Counter()
    failures: list[str] = []

    @settings(
        max_examples=REQUESTS,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case) -> None:
        sent.append(case)
        try:
            response = case.call(base_url=microblog.url, headers={"Authorization": f"Bearer {next(who)}"},
                                 timeout=30)  # fmt: skip
            answered[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # collected: one run reports every finding
            failures.append(f"{case.method} {case.formatted_path}: {str(exc)[:1500]}")

    fuzz()
    assert len(sent) >= REQUESTS, f"only {len(sent)} requests were generated"
    print("answers by status:", dict(sorted(answered.items())))
    # Signed in for real: most valid requests get through (not a wall of 401s or 429s).
    assert sum(n for status, n in answered.items() if status < 300) > len(sent) // 10, answered
    assert answered[401] + answered[429] < len(sent) // 10, answered
    distinct = sorted(set(failures))
    report = f"{len(failures)} of {len(sent)} answers failed:\n" + "\n\n".join(distinct[:20])
    if failures and microblog.stack is not None:  # the local modes: each process's last lines
        for name in ("gateway", *SERVICES):
            report += f"\n\n--- {name}.log\n{microblog.stack.log_tail(name)}"
    assert not failures, report
