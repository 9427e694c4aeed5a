"""Timelines are put together from rendered pieces kept in memory (`statuses.rendering.RenderCache`):
what they answer must be what a status renders to on its own, for each viewer, after every change
of the status or its author."""

from __future__ import annotations

from typing import Any


def _single(caller: Any, status_id: str) -> dict[str, Any]:
    return caller.get(f"/api/v1/statuses/{status_id}").json()


def test_a_page_renders_each_status_as_it_renders_alone(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    posts.follow(bob, alice)
    mine = posts.as_(alice).status("mine #tagged @bob", visibility="public")
    reply = posts.as_(bob).status("a reply", in_reply_to_id=mine["id"], visibility="unlisted")
    private = posts.as_(alice).status("followers only", visibility="private")
    for caller, path in (
        (posts.as_(bob), "/api/v1/timelines/home"),
        (posts.as_(alice), "/api/v1/timelines/home"),
        (posts.as_(bob), "/api/v1/timelines/public"),
        (posts.anonymous, "/api/v1/timelines/public"),
        (posts.anonymous, "/api/v1/timelines/tag/tagged"),
        (posts.as_(bob), f"/api/v1/accounts/{alice.id}/statuses"),
    ):
        for _ in range(2):  # rendered, then from the cache
            page = caller.get(path).json()
            assert page, path
            assert all(status == _single(caller, status["id"]) for status in page), path
    home = [s["id"] for s in posts.as_(bob).get("/api/v1/timelines/home").json()]
    assert {mine["id"], reply["id"], private["id"]} <= set(home)


def test_the_viewers_flags_are_their_own_and_changes_show_at_once(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    posts.follow(bob, alice)
    status = posts.as_(alice).status("before the edit", visibility="public")
    as_bob, as_alice = posts.as_(bob), posts.as_(alice)

    def seen(caller: Any, path: str = "/api/v1/timelines/home") -> dict[str, Any]:
        return next(s for s in caller.get(path).json() if s["id"] == status["id"])

    first = seen(as_bob)
    assert first["favourited"] is False and first["favourites_count"] == 0 and "pinned" not in first
    assert seen(as_alice)["pinned"] is False  # the author's own pinnable post
    assert as_bob.post(f"/api/v1/statuses/{status['id']}/favourite").status_code == 200
    assert seen(as_bob)["favourited"] is True and seen(as_bob)["favourites_count"] == 1
    assert seen(as_alice)["favourited"] is False and seen(as_alice)["favourites_count"] == 1
    anonymous = seen(posts.anonymous, "/api/v1/timelines/public")
    assert "favourited" not in anonymous and "filtered" not in anonymous
    assert anonymous["favourites_count"] == 1

    edited = as_alice.put(f"/api/v1/statuses/{status['id']}", json={"status": "after the edit"})
    assert edited.status_code == 200
    assert seen(as_bob)["content"] == "<p>after the edit</p>" and seen(as_bob)["edited_at"]
    before = seen(as_bob)["account"]["statuses_count"]
    as_alice.status("another", visibility="public")
    assert seen(as_bob)["account"]["statuses_count"] == before + 1  # the author's JSON again
