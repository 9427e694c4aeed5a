"""The replica of the users service's data, fed by `user.*` events: account snapshots and the follow
graph (the newest version of each wins, through the shared consumer's rule), counts, deleted
accounts, duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from microblog_common.contracts.users import UserFollowed, follow_subject
from microblog_common.events import Event
from microblog_common.ids import new_id

from .conftest import User


def account_of(posts, status_id: str) -> dict:
    return posts.anonymous.get(f"/api/v1/statuses/{status_id}").json()["account"]


def test_a_profile_change_shows_in_every_status(posts):
    alice = posts.register("alice", display_name="Alice")
    first = posts.as_(alice).status("one")
    second = posts.as_(alice).status("two")
    posts.update_profile(
        alice, display_name="Alice Liddell", note="<p>hi</p>", bot=True, fields=[{"name": "w", "value": "x"}]
    )
    for status in (first, second):
        account = account_of(posts, status["id"])
        assert account["display_name"] == "Alice Liddell" and account["note"] == "<p>hi</p>"
        assert account["bot"] is True and account["fields"] == [
            {"name": "w", "value": "x", "verified_at": None}
        ]
    home = posts.as_(alice).get("/api/v1/timelines/home").json()
    assert {s["account"]["display_name"] for s in home} == {"Alice Liddell"}


def test_posting_defaults_come_from_the_account_snapshot(start_service):
    """A post that doesn't say its visibility or sensitivity takes the author's defaults (the
    snapshot's `default_privacy`, `default_sensitive`: Mastodon's `source[privacy]` and
    `source[sensitive]`); what the client sends wins. Without them: public, not sensitive."""
    with start_service(scheduled_min_lead_seconds=60) as posts:
        alice, bob = posts.register("alice"), posts.register("bob")
        assert posts.as_(alice).status("as ever")["visibility"] == "public"
        alice.version += 1
        defaults = {"default_privacy": "private", "default_sensitive": True, "version": alice.version}
        posts.deliver("user.updated", {**posts.snapshot(alice), **defaults}, alice.id)
        me = posts.as_(alice)
        quiet = me.status("for my followers")
        assert (quiet["visibility"], quiet["sensitive"]) == ("private", True)
        assert posts.as_(bob).get(f"/api/v1/statuses/{quiet['id']}").status_code == 404
        loud = me.status("for everyone", visibility="public", sensitive=False)
        assert (loud["visibility"], loud["sensitive"]) == ("public", False)
        later = me.post("/api/v1/statuses", json={"status": "later", "scheduled_at": an_hour_ahead()})
        assert later.json()["params"]["visibility"] == "private" and later.json()["params"]["sensitive"]
        # A default no post may have (Mastodon's defaults are public, unlisted, private) is public.
        alice.version += 1
        odd = {"default_privacy": "direct", "default_sensitive": False, "version": alice.version}
        posts.deliver("user.updated", {**posts.snapshot(alice), **odd}, alice.id)
        assert me.status("and again")["visibility"] == "public"


def an_hour_ahead() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def test_older_snapshots_are_dropped_by_version(posts):
    alice = posts.register("alice", display_name="v1")
    status = posts.as_(alice).status("hello")
    posts.update_profile(alice, version=3, display_name="v3")
    posts.update_profile(alice, version=2, display_name="v2 (late)")  # delivered out of order
    assert account_of(posts, status["id"])["display_name"] == "v3"
    posts.update_profile(alice, version=3, display_name="v3 again")  # same version: a duplicate
    assert account_of(posts, status["id"])["display_name"] == "v3"
    posts.update_profile(alice, version=4, display_name="v4")
    assert account_of(posts, status["id"])["display_name"] == "v4"
    # A late `user.registered` (version 1) never overwrites a newer profile.
    posts.deliver("user.registered", {**posts.snapshot(alice, display_name="v1"), "version": 1}, alice.id)
    assert account_of(posts, status["id"])["display_name"] == "v4"


def test_follow_changes_apply_in_the_order_they_happened(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    posts.unfollow(alice, bob, version=2)  # the later change, delivered first
    posts.follow(alice, bob, at=earlier, version=1)
    status = posts.as_(bob).status("for followers", visibility="private")
    assert posts.as_(alice).get(f"/api/v1/statuses/{status['id']}").status_code == 404
    assert account_of(posts, posts.as_(bob).status("x")["id"])["followers_count"] == 0

    posts.follow(alice, bob)
    posts.follow(alice, bob)  # re-sent (e.g. flags changed): counted once
    assert posts.as_(alice).get(f"/api/v1/statuses/{status['id']}").status_code == 200
    mine = posts.as_(alice).status("me")
    assert account_of(posts, mine["id"])["following_count"] == 1
    assert account_of(posts, posts.as_(bob).status("y")["id"])["followers_count"] == 1


def test_follows_delivered_before_the_account_are_counted(posts):
    early, star = User(new_id(), "early"), posts.register("star")
    posts.follow(early, star)
    posts.follow(star, early)
    posts.deliver(
        "user.registered", {**posts.snapshot(early), "email": "e@example.com", "locale": "en"}, early.id
    )
    account = account_of(posts, posts.as_(early).status("here at last")["id"])
    assert (account["followers_count"], account["following_count"]) == (1, 1)


def test_a_duplicate_event_is_handled_once(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    follow = UserFollowed(
        follower_id=str(alice.id), followee_id=str(bob.id), at=datetime.now(UTC),
        notify=False, reblogs=True, languages=None,
    )  # fmt: skip
    event = Event(
        type="user.followed",
        producer="users",
        subject=follow_subject(alice.id, bob.id),
        data=follow.model_dump(mode="json"),
    )
    for _ in range(2):
        posts.raw.portal.call(posts.app.state.bus.publish, [event])
    assert account_of(posts, posts.as_(bob).status("x")["id"])["followers_count"] == 1


def test_a_deleted_account_takes_its_posts_and_favourites_along(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    posts.follow(bob, alice)
    root = posts.as_(bob).status("bob's")
    reply = posts.as_(alice).status("alice's reply", in_reply_to_id=root["id"])
    posts.as_(alice).post(f"/api/v1/statuses/{root['id']}/favourite")
    shown = posts.anonymous.get(f"/api/v1/statuses/{root['id']}").json()
    assert shown["replies_count"] == 1 and shown["favourites_count"] == 1
    assert shown["account"]["followers_count"] == 0
    posts.deliver("user.deleted", {"id": str(alice.id)}, alice.id, version=alice.version + 1)
    assert posts.anonymous.get(f"/api/v1/statuses/{reply['id']}").status_code == 404
    shown = posts.anonymous.get(f"/api/v1/statuses/{root['id']}").json()
    assert shown["replies_count"] == 0 and shown["favourites_count"] == 0
    assert posts.anonymous.get(f"/api/v1/accounts/{alice.id}/statuses").status_code == 404
    assert posts.as_(bob).get("/api/v1/timelines/home").json()[0]["id"] == root["id"]


def test_an_older_event_never_undoes_a_snapshot_read_from_the_users_service(posts):
    """A post relying on the privacy default reads the author's current snapshot (here version 3,
    private) from the users service; the `user.updated` of version 2, arriving afterwards, is
    older and changes nothing: the next post is private too."""
    alice = posts.register("alice")
    newest = {**posts.snapshot(alice, display_name="v3"), "version": 3, "default_privacy": "private"}
    posts.users.publish(newest)
    assert posts.as_(alice).status("read now")["visibility"] == "private"
    late = {**posts.snapshot(alice, display_name="v2 (late)"), "version": 2, "default_privacy": "public"}
    posts.deliver("user.updated", late, alice.id)
    status = posts.as_(alice).status("and again", visibility="unlisted", sensitive=False)  # nothing read
    assert account_of(posts, status["id"])["display_name"] == "v3"
    posts.users.down = True
    try:  # the replica's own view, with nothing fetched: still version 3's privacy
        assert posts.as_(alice).status("while users is down", sensitive=False, visibility="private")
    finally:
        posts.users.down = False
    assert posts.as_(alice).status("later")["visibility"] == "private"
