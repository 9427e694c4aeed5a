"""The index unreachable: searches answer 503 in the API's error format, events are still taken
(the replica and the queue of changes keep them), and once the index is back everything queued
meanwhile is written and found. Against osmem-server on a port of the test's own."""

from __future__ import annotations

from devstack.servers import OsmemSearchServer, free_port

from .conftest import start


def test_nothing_is_lost_while_the_index_is_down(tmp_path, request):
    request.getfixturevalue("opensearch_server")  # skips, with the reason, without osmem-server
    port = free_port()
    index = {
        "elasticsearch_url": f"http://127.0.0.1:{port}",
        "elasticsearch_plain_json": True,
        "elasticsearch_languages": ("en",),
        "elasticsearch_timeout_seconds": 1.0,
        "index_retry_max_seconds": 1.0,
    }
    with start(f"sqlite:///{tmp_path / 'search.db'}", {}, **index, wait=False) as search:
        alice = search.register("alice")
        posts = [search.post(alice, f"offline note {i}") for i in range(5)]
        down = search.client.get("/api/v2/search", params={"q": "offline"}, user_id=alice.id)
        assert down.status_code == 503
        assert down.json() == {"error": "Search is unavailable right now; try again in a moment"}
        assert search.pending() >= 6  # taken, queued for the index
        with OsmemSearchServer(tmp_path / "osmem", port=port):
            search.indexed(timeout=30)
            assert set(search.statuses(alice, q="offline")) == {p.id for p in posts}
            assert search.accounts(alice, q="alice") == ["alice"]
