"""The Elasticsearch backend's own contract, below the behaviour suite: explicit mappings with a
sub-field per language, external versions (an older write never replaces a newer document),
searches through an alias that a new generation takes over atomically, and the media types. Against
osmem-server, and against a real Elasticsearch when ELASTICSEARCH_URL is set."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from search.index.base import Removal, StatusDocument, StatusQuery
from search.index.elasticsearch_index import LANGUAGE_ANALYZERS, ElasticsearchIndex
from search.query import parse
from search.settings import Settings

from .conftest import OSMEM_LANGUAGES


@pytest.fixture(params=("opensearch", "elasticsearch"))
def server(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "opensearch":
        return "opensearch", request.getfixturevalue("opensearch_server").url
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip("ELASTICSEARCH_URL is not set: no real Elasticsearch to test against")
    return "elasticsearch", url


def _index(kind: str, url: str, **overrides: object) -> ElasticsearchIndex:
    settings = Settings(
        database_url="sqlite://",
        event_bus="memory",
        environment="test",
        internal_secret="x" * 40,
        elasticsearch_url=url,
        elasticsearch_plain_json=kind == "opensearch",
        elasticsearch_index_prefix=f"t{uuid.uuid4().hex[:12]}",
        **({"elasticsearch_languages": OSMEM_LANGUAGES} if kind == "opensearch" else {}),
        **overrides,
    )
    return ElasticsearchIndex(settings)


def _status(status_id: int, text: str, revision: int) -> StatusDocument:
    return StatusDocument(
        id=status_id, account_id=1, text=text, language="en", tags=(), visibility="public", mentions=(),
        searchable_by=(1,), is_reply=False, sensitive=False, has=(), created_at=datetime.now(UTC),
        revision=revision,
    )  # fmt: skip


async def _found(index: ElasticsearchIndex, q: str) -> list[int]:
    return [hit.id for hit in await index.search_statuses(StatusQuery(parse(q), viewer_id=1, fuzzy=False))]


async def test_external_versions_and_the_alias(server):
    kind, url = server
    index = _index(kind, url)
    try:
        await index.create_generation("g1")
        await index.publish("g1")
        await index.write(["g1"], [_status(1, "newer words", revision=3)])
        # An older revision written afterwards (a slow writer) changes nothing.
        await index.write(["g1"], [_status(1, "older words", revision=2)])
        assert await _found(index, "newer") == [1] and await _found(index, "older") == []
        # A deletion at an older revision doesn't delete it either; at a newer one it does.
        await index.write(["g1"], [Removal("status", 1, revision=3)])
        assert await _found(index, "newer") == [1]
        await index.write(["g1"], [_status(2, "second", revision=1), Removal("status", 1, revision=4)])
        assert await _found(index, "newer") == [] and await _found(index, "second") == [2]
        # A new generation is invisible until it is published, then it is all searches see.
        await index.create_generation("g2")
        await index.write(["g2"], [_status(3, "third", revision=1)], commit=False)
        assert await _found(index, "third") == []
        await index.write(["g2"], [], commit=True)
        await index.publish("g2")
        assert await _found(index, "third") == [3] and await _found(index, "second") == []
        aliases = await index.client.indices.get_alias(name=index.statuses_alias)
        assert list(aliases) == [f"{index.statuses_alias}-g2"]
        await index.drop_generation("g1")
    finally:
        for name in ("g1", "g2"):
            await index.drop_generation(name)
        await index.close()


async def test_mappings_are_explicit_with_a_sub_field_per_language(server):
    kind, url = server
    if kind == "opensearch":
        pytest.skip(
            "osmem-server has no dutch, arabic, turkish or swedish analyser: the full mapping "
            "(every ELASTICSEARCH_LANGUAGES default) needs a real Elasticsearch"
        )
    index = _index(kind, url)
    try:
        await index.create_generation("g1")
        mapping = await index.client.indices.get_mapping(index=f"{index.statuses_alias}-g1")
        properties = next(iter(mapping.values()))["mappings"]["properties"]
        assert set(properties["text"]["fields"]) == set(LANGUAGE_ANALYZERS)
        assert properties["visibility"] == {"type": "keyword"} and properties["created_at"]["type"] == "date"
    finally:
        await index.drop_generation("g1")
        await index.close()


def test_opensearch_refuses_the_clients_compatibility_media_types(server):
    """Why ELASTICSEARCH_PLAIN_JSON exists: what the client sends by default is refused."""
    kind, url = server
    if kind != "opensearch":
        pytest.skip("real Elasticsearch accepts its own client's media types")
    compat = "application/vnd.elasticsearch+json; compatible-with=9"
    refused = httpx.put(f"{url}/t{uuid.uuid4().hex[:8]}", headers={"Content-Type": compat, "Accept": compat},
                        content=b"{}")  # fmt: skip
    assert refused.status_code == 406
