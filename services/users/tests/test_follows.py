"""The follow graph: follow/unfollow, counts, relationships, paginated lists (users.follows)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def links(response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("link", ""))}


def counts(users, account) -> tuple[int, int]:
    body = users.client.get(f"/api/v1/accounts/{account.id}").json()
    return body["followers_count"], body["following_count"]


def test_follow_is_idempotent_keeps_flags_and_counts(users):
    alice, bob = users.register("alice"), users.register("bob")
    me = users.as_(alice.token)
    r = me.post(f"/api/v1/accounts/{bob.id}/follow", data={"notify": "1", "reblogs": "0"})
    assert r.status_code == 200, r.text
    rel = r.json()
    assert rel["id"] == str(bob.id) and rel["following"] is True
    assert rel["notifying"] is True and rel["showing_reblogs"] is False and rel["followed_by"] is False
    again = me.post(f"/api/v1/accounts/{bob.id}/follow")
    assert again.status_code == 200 and again.json()["following"] is True
    assert again.json()["notifying"] is True  # flags kept when not given again
    assert counts(users, bob) == (1, 0) and counts(users, alice) == (0, 1)
    (followed,) = users.events("user.followed")
    assert followed.data["follower_id"] == str(alice.id) and followed.data["followee_id"] == str(bob.id)
    assert followed.data["notify"] is True and followed.data["reblogs"] is False

    changed = me.post(f"/api/v1/accounts/{bob.id}/follow", json={"notify": False})
    assert changed.json()["notifying"] is False
    assert len(users.events("user.followed", 2)) == 2  # consumers upsert the new flags

    for _ in range(2):
        gone = me.post(f"/api/v1/accounts/{bob.id}/unfollow")
        assert gone.status_code == 200 and gone.json()["following"] is False
    assert counts(users, bob) == (0, 0) and counts(users, alice) == (0, 0)
    assert len(users.events("user.unfollowed")) == 1


def test_follow_languages_are_kept_and_can_be_cleared(users):
    alice, bob, carol = users.register("alice"), users.register("bob"), users.register("carol")
    me = users.as_(alice.token)
    # A form's empty `languages[]=` means "no filter": never a filter of one blank language.
    blank = me.post(f"/api/v1/accounts/{carol.id}/follow", data={"languages[]": ""})
    assert blank.status_code == 200 and blank.json()["languages"] is None

    chosen = me.post(f"/api/v1/accounts/{bob.id}/follow", data={"languages[]": ["en", "de"]})
    assert chosen.json()["languages"] == ["en", "de"]
    assert me.post(f"/api/v1/accounts/{bob.id}/follow").json()["languages"] == ["en", "de"]  # kept
    cleared = me.post(f"/api/v1/accounts/{bob.id}/follow", json={"languages": []})
    assert cleared.status_code == 200 and cleared.json()["languages"] is None
    followed = users.events("user.followed", 3)
    assert [e.data["languages"] for e in followed if e.data["followee_id"] == str(bob.id)] == [
        ["en", "de"],
        None,
    ]


def test_follow_rules(users):
    alice = users.register("alice")
    me = users.as_(alice.token)
    itself = me.post(f"/api/v1/accounts/{alice.id}/follow")
    assert itself.status_code == 422 and itself.json()["error"]
    assert me.post("/api/v1/accounts/12345/follow").status_code == 404
    assert users.client.post(f"/api/v1/accounts/{alice.id}/follow").status_code == 401
    read_only = users.login(alice.app, "alice", scope="read").json()["access_token"]
    bob = users.register("bob")
    assert users.as_(read_only).post(f"/api/v1/accounts/{bob.id}/follow").status_code == 403
    granular = users.login(alice.app, "alice", scope="write:follows").json()["access_token"]
    assert users.as_(granular).post(f"/api/v1/accounts/{bob.id}/follow").status_code == 200


def test_cannot_follow_on_another_accounts_behalf(users):
    alice, bob, carol = users.register("alice"), users.register("bob"), users.register("carol")
    # Bob names Alice as the follower every way a client could: the follow is still Bob's.
    r = users.as_(bob.token).post(
        f"/api/v1/accounts/{carol.id}/follow",
        data={"account_id": str(alice.id), "follower_id": str(alice.id)},
    )
    assert r.status_code == 200
    assert counts(users, alice) == (0, 0) and counts(users, bob) == (0, 1)
    rel = users.as_(alice.token).get("/api/v1/accounts/relationships", params={"id[]": str(carol.id)}).json()
    assert rel[0]["following"] is False


def test_relationships(users):
    alice, bob, carol = users.register("alice"), users.register("bob"), users.register("carol")
    users.as_(alice.token).post(f"/api/v1/accounts/{bob.id}/follow")
    users.as_(carol.token).post(f"/api/v1/accounts/{alice.id}/follow")
    r = users.as_(alice.token).get(
        "/api/v1/accounts/relationships",
        params=[("id[]", str(bob.id)), ("id[]", str(carol.id)), ("id[]", "999")],
    )
    assert r.status_code == 200, r.text
    # In request order; an id that names no account is left out, as Mastodon does.
    assert [rel["id"] for rel in r.json()] == [str(bob.id), str(carol.id)]
    by_id = {rel["id"]: rel for rel in r.json()}
    assert by_id[str(bob.id)]["following"] is True and by_id[str(bob.id)]["followed_by"] is False
    assert by_id[str(carol.id)]["following"] is False and by_id[str(carol.id)]["followed_by"] is True
    assert set(by_id[str(bob.id)]) >= {
        "blocking",
        "blocked_by",
        "muting",
        "muting_notifications",
        "requested",
        "requested_by",
        "domain_blocking",
        "endorsed",
        "note",
        "languages",
        "showing_reblogs",
        "notifying",
    }
    single = users.as_(alice.token).get("/api/v1/accounts/relationships", params={"id": str(bob.id)})
    assert [rel["id"] for rel in single.json()] == [str(bob.id)]
    assert users.client.get("/api/v1/accounts/relationships", params={"id[]": str(bob.id)}).status_code == 401


def test_followers_and_following_pages_with_link_headers(users):
    star = users.register("star")
    fans = [users.register(f"fan{i}") for i in range(5)]
    for fan in fans:
        assert users.as_(fan.token).post(f"/api/v1/accounts/{star.id}/follow").status_code == 200

    first = users.client.get(f"/api/v1/accounts/{star.id}/followers", params={"limit": 2})
    assert first.status_code == 200
    assert [a["username"] for a in first.json()] == ["fan4", "fan3"]  # newest follow first
    nav = links(first)
    assert nav["next"].startswith(f"http://127.0.0.1:8000/api/v1/accounts/{star.id}/followers?")
    assert "max_id=" in nav["next"] and "limit=2" in nav["next"] and "min_id=" in nav["prev"]

    second = users.client.get(nav["next"].removeprefix("http://127.0.0.1:8000"))
    assert [a["username"] for a in second.json()] == ["fan2", "fan1"]
    third = users.client.get(links(second)["next"].removeprefix("http://127.0.0.1:8000"))
    assert [a["username"] for a in third.json()] == ["fan0"]
    assert "next" not in links(third)  # a short page is the last one

    back = users.client.get(links(second)["prev"].removeprefix("http://127.0.0.1:8000"))
    assert [a["username"] for a in back.json()] == ["fan4", "fan3"]
    since = users.client.get(
        f"/api/v1/accounts/{star.id}/followers",
        params={"since_id": first.headers["link"].split("min_id=")[1].split(">")[0]},
    )
    assert since.json() == []

    following = users.client.get(f"/api/v1/accounts/{fans[0].id}/following")
    assert [a["username"] for a in following.json()] == ["star"] and following.json()[0][
        "followers_count"
    ] == 5
    assert users.client.get("/api/v1/accounts/999/followers").status_code == 404


def test_lists_cost_one_query_per_page(users):
    star = users.register("star")
    for i in range(4):
        users.as_(users.register(f"fan{i}").token).post(f"/api/v1/accounts/{star.id}/follow")
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = users.app.state.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        r = users.client.get(f"/api/v1/accounts/{star.id}/followers", params={"limit": 40})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(r.json()) == 4
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "follows" in s]
    assert len(selects) == 1, statements


def test_hidden_network_is_shown_to_its_owner_only(users):
    alice, bob = users.register("alice"), users.register("bob")
    users.as_(bob.token).post(f"/api/v1/accounts/{alice.id}/follow")
    users.as_(alice.token).patch("/api/v1/accounts/update_credentials", data={"hide_collections": "1"})
    assert users.client.get(f"/api/v1/accounts/{alice.id}/followers").json() == []
    own = users.as_(alice.token).get(f"/api/v1/accounts/{alice.id}/followers").json()
    assert [a["username"] for a in own] == ["bob"]


@pytest.mark.parametrize("locked", ["1", "0"])
def test_locked_accounts_are_followed_directly(users, locked):
    alice, bob = users.register("alice"), users.register("bob")
    users.as_(bob.token).patch("/api/v1/accounts/update_credentials", data={"locked": locked})
    rel = users.as_(alice.token).post(f"/api/v1/accounts/{bob.id}/follow").json()
    assert rel["following"] is True and rel["requested"] is False


def test_concurrent_follows_in_both_directions_all_succeed_with_exact_counts(users):
    """Everyone follows everyone at once: pairs followed both ways at the same moment each update
    the same two accounts' counts (on PostgreSQL they once deadlocked, a 500 to one of them)."""
    from concurrent.futures import ThreadPoolExecutor

    people = [users.register(f"crowd{n}") for n in range(6)]
    pairs = [(a, b) for a in people for b in people if a is not b]

    def follow(pair) -> int:
        follower, followee = pair
        return users.as_(follower.token).post(f"/api/v1/accounts/{followee.id}/follow").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(follow, pairs * 3))  # the repeats are idempotent follows
    assert statuses == [200] * len(statuses)
    for person in people:
        assert counts(users, person) == (5, 5)
    assert len(users.events("user.followed", len(pairs))) == len(pairs)
