"""Which notifications events make (Mastodon's rules and the issue's), and the v1/v2 endpoints that
read them, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from microblog_common.testing import MASTODON_ACCOUNT_FIELDS


def test_follow_mention_reply_favourite_and_never_your_own(notify):
    ev = notify.events
    alice, bob = ev.account("alice"), ev.account("bob")
    ev.follow(bob, alice)
    post = ev.status(alice, "mine")
    ev.status(bob, "hey", mentions=(alice,))
    ev.status(bob, "a reply without a mention", reply_to=post)
    ev.favourite(post, bob)
    ev.favourite(post, alice)  # your own favourite: nothing
    ev.status(alice, "talking to myself", mentions=(alice,))  # your own mention: nothing
    notes = notify.notifications(alice)
    assert [n["type"] for n in notes] == ["favourite", "mention", "mention", "follow"]
    follow = notes[-1]
    assert set(follow["account"]) >= MASTODON_ACCOUNT_FIELDS and follow["account"]["id"] == str(bob)
    assert "status" not in follow and follow["group_key"].startswith("follow-")
    assert notes[0]["status"]["id"] == post["id"] and notes[0]["status"]["favourites_count"] == 2
    assert notes[0]["status"]["account"]["username"] == "alice"
    assert notify.notifications(bob) == []


def test_never_about_a_status_you_may_not_see(notify):
    ev = notify.events
    alice, bob, carol = ev.account(), ev.account(), ev.account()
    ev.follow(alice, bob)
    secret = ev.status(bob, "followers only", visibility="private")
    # A followers-only reply to carol, who doesn't follow bob and isn't mentioned: she can't see it.
    carol_post = ev.status(carol, "question")
    ev.status(bob, "private answer", visibility="private", reply_to=carol_post)
    ev.status(bob, "a direct message", visibility="direct", mentions=(carol,))
    assert notify.types(carol) == ["mention"]
    ev.favourite(secret, alice)
    assert notify.types(bob) == ["favourite", "follow"]


def test_status_notifications_for_followers_who_asked(notify):
    ev = notify.events
    alice, bell, quiet = ev.account(), ev.account(), ev.account()
    ev.follow(bell, alice, notify=True)
    ev.follow(quiet, alice)
    ev.status(alice, "news")
    ev.status(alice, "not for the bell", visibility="direct")
    other = ev.status(quiet, "someone else")
    ev.status(alice, "a reply to someone else", reply_to=other)
    assert notify.types(bell) == ["status"]
    assert notify.types(quiet) == ["mention"]


def test_edits_tell_who_favourited_or_replied_and_new_mentions(notify):
    ev = notify.events
    alice, fan, replier, newcomer = ev.account(), ev.account(), ev.account(), ev.account()
    post = ev.status(alice, "v1")
    ev.favourite(post, fan)
    ev.status(replier, "reply", reply_to=post)
    edited = ev.edit(post, "v2", mentions=(newcomer,))
    assert notify.types(fan) == ["update"]
    assert notify.types(replier) == ["update"]
    assert notify.types(newcomer) == ["mention"]
    ev.edit(edited, "v3", mentions=(newcomer,))
    assert notify.types(fan) == ["update", "update"]
    assert notify.types(newcomer) == ["mention"]  # still one mention


def test_a_deleted_status_takes_its_notifications_and_late_events_change_nothing(notify):
    ev = notify.events
    alice, bob = ev.account(), ev.account()
    post = ev.status(alice, "soon gone")
    ev.status(bob, "hi", mentions=(alice,))
    ev.favourite(post, bob)
    ev.delete(post)
    assert notify.types(alice) == ["mention"]
    ev.favourite(post, ev.account())  # crossed the deletion on its way
    assert notify.types(alice) == ["mention"]


def test_a_status_first_seen_by_its_edit_still_mentions(notify):
    """The version rule may drop a publication that arrives after its edit: the edit, applied as
    the whole state, makes the mentions the publication would have."""
    ev = notify.events
    alice, bob = ev.account(), ev.account()
    post = ev.status(bob, "draft", publish=False)  # its publication never arrives
    ev.edit(post, "hello @alice", mentions=(alice,))
    assert notify.types(alice) == ["mention"]


def test_an_unfollow_takes_back_the_unseen_follow_notification(notify):
    ev = notify.events
    alice, bob, carol = ev.account(), ev.account(), ev.account()
    ev.follow(bob, alice)
    ev.unfollow(bob, alice)
    assert notify.types(alice) == []
    ev.follow(carol, alice)
    seen = notify.notifications(alice)[0]["id"]
    marked = notify.post("/api/v1/markers", alice, json={"notifications": {"last_read_id": seen}})
    assert marked.status_code == 200, marked.text
    ev.unfollow(carol, alice)
    assert notify.types(alice) == ["follow"]  # read already: it stays
    ev.follow(bob, alice)  # again: a new follow
    assert notify.types(alice) == ["follow", "follow"]


def test_filters_paging_and_link_headers(notify):
    ev = notify.events
    alice = ev.account()
    fans = [ev.account() for _ in range(5)]
    for fan in fans:
        ev.follow(fan, alice)
    ev.status(fans[0], "hi", mentions=(alice,))
    page = notify.get("/api/v1/notifications", alice, params={"limit": 2, "types[]": "follow"})
    assert [n["type"] for n in page.json()] == ["follow", "follow"]
    link = page.headers["link"]
    assert "types%5B%5D=follow" in link and 'rel="next"' in link and 'rel="prev"' in link
    older = notify.get(
        "/api/v1/notifications",
        alice,
        params={"limit": 2, "types[]": "follow", "max_id": page.json()[-1]["id"]},
    )
    assert len(older.json()) == 2 and older.json()[0]["id"] < page.json()[-1]["id"]
    newer = notify.get("/api/v1/notifications", alice, params={"min_id": older.json()[0]["id"]})
    assert [n["id"] for n in newer.json()][-1] == page.json()[-1]["id"]
    assert notify.types(alice)[0] == "mention"
    excluded = notify.notifications(alice, **{"exclude_types[]": ["follow"]})
    assert [n["type"] for n in excluded] == ["mention"]
    assert notify.notifications(alice, account_id=str(fans[1])) and all(
        n["account"]["id"] == str(fans[1]) for n in notify.notifications(alice, account_id=str(fans[1]))
    )
    assert notify.notifications(alice, **{"types[]": ["bogus"]}) == []
    assert notify.notifications(alice, account_id="not-an-id") == []
    assert (
        notify.get("/api/v1/notifications", alice, params={"max_id": "\x00", "limit": "x"}).status_code == 200
    )


def test_get_dismiss_clear_and_other_peoples_notifications(notify):
    ev = notify.events
    alice, bob = ev.account(), ev.account()
    ev.follow(bob, alice)
    ev.follow(alice, bob)
    mine = notify.notifications(alice)[0]
    assert notify.get(f"/api/v1/notifications/{mine['id']}", alice).json()["id"] == mine["id"]
    assert notify.get(f"/api/v1/notifications/{mine['id']}", bob).status_code == 404
    assert notify.post(f"/api/v1/notifications/{mine['id']}/dismiss", bob, json={}).status_code == 404
    assert notify.get("/api/v1/notifications/abc", alice).status_code == 404
    dismissed = notify.post(f"/api/v1/notifications/{mine['id']}/dismiss", alice, json={})
    assert dismissed.status_code == 200 and dismissed.json() == {}
    assert notify.notifications(alice) == []
    assert notify.post("/api/v1/notifications/clear", bob, json={}).json() == {}
    assert notify.notifications(bob) == []
    # Scopes: reading needs read:notifications, changing write:notifications.
    assert (
        notify.client.get("/api/v1/notifications", user_id=alice, scopes="read:statuses").status_code == 403
    )
    assert notify.client.post("/api/v1/notifications/clear", user_id=alice, scopes="read").status_code == 403
    assert notify.client.get("/api/v1/notifications").status_code == 401


def test_unread_counts_follow_the_marker(notify):
    ev = notify.events
    alice = ev.account()
    fans = [ev.account() for _ in range(3)]
    for fan in fans:
        ev.follow(fan, alice)
    post = ev.status(alice, "p")
    for fan in fans:
        ev.favourite(post, fan)
    assert notify.get("/api/v1/notifications/unread_count", alice).json() == {"count": 6}
    assert notify.get("/api/v1/notifications/unread_count", alice, params={"limit": 2}).json() == {"count": 2}
    assert notify.get("/api/v2/notifications/unread_count", alice).json() == {"count": 2}  # two groups
    ungrouped = notify.get("/api/v2/notifications/unread_count", alice, params={"grouped_types[]": "follow"})
    assert ungrouped.json() == {"count": 4}
    newest = notify.notifications(alice)
    notify.post("/api/v1/markers", alice, json={"notifications": {"last_read_id": newest[1]["id"]}})
    assert notify.get("/api/v1/notifications/unread_count", alice).json() == {"count": 1}


def test_grouped_notifications(notify):
    ev = notify.events
    alice = ev.account()
    fans = [ev.account() for _ in range(3)]
    post = ev.status(alice, "popular")
    for fan in fans:
        ev.follow(fan, alice)
        ev.favourite(post, fan)
    hi = ev.status(fans[0], "hi", mentions=(alice,))
    full = notify.get("/api/v2/notifications", alice).json()
    groups = full["notification_groups"]
    assert [g["type"] for g in groups] == ["mention", "favourite", "follow"]
    favourites = groups[1]
    assert favourites["notifications_count"] == 3 and favourites["status_id"] == post["id"]
    assert favourites["sample_account_ids"] == [str(f) for f in reversed(fans)]
    assert isinstance(favourites["most_recent_notification_id"], int)
    assert {a["id"] for a in full["accounts"]} == {str(f) for f in fans}
    assert [s["id"] for s in full["statuses"]] == [hi["id"], post["id"]]  # each once
    partial = notify.get("/api/v2/notifications", alice, params={"expand_accounts": "partial_avatars"}).json()
    assert {a["id"] for a in partial["accounts"]} | {a["id"] for a in partial["partial_accounts"]} == {
        str(f) for f in fans
    }
    assert set(partial["partial_accounts"][0]) == {
        "id",
        "acct",
        "locked",
        "bot",
        "url",
        "avatar",
        "avatar_static",
    }
    assert notify.get("/api/v2/notifications", alice, params={"expand_accounts": "x"}).status_code == 400
    page = notify.get("/api/v2/notifications", alice, params={"limit": 2})
    assert len(page.json()["notification_groups"]) == 2 and 'rel="next"' in page.headers["link"]
    rest = notify.get(
        "/api/v2/notifications",
        alice,
        params={"limit": 2, "max_id": page.headers["link"].split("max_id=")[1].split(">")[0]},
    )
    # As Mastodon: a group met again below the cursor comes again (clients merge by group_key).
    assert [g["type"] for g in rest.json()["notification_groups"]] == ["follow", "favourite"]
    key = favourites["group_key"]
    one = notify.get(f"/api/v2/notifications/{key}", alice).json()
    assert one["notification_groups"][0]["notifications_count"] == 3
    assert len(notify.get(f"/api/v2/notifications/{key}/accounts", alice).json()) == 3
    assert notify.post(f"/api/v2/notifications/{key}/dismiss", alice, json={}).json() == {}
    assert notify.get(f"/api/v2/notifications/{key}", alice).status_code == 404
    assert notify.get("/api/v2/notifications/%00", alice).status_code == 404


def test_markers(notify):
    alice = notify.events.account()
    assert notify.get("/api/v1/markers", alice, params={"timeline[]": "home"}).json() == {}
    set_ = notify.post(
        "/api/v1/markers", alice, data={"home[last_read_id]": "123", "notifications[last_read_id]": "45"}
    )
    assert set_.status_code == 200
    assert set_.json()["home"]["last_read_id"] == "123" and set_.json()["home"]["version"] == 0
    again = notify.post("/api/v1/markers", alice, json={"home": {"last_read_id": "124"}}).json()
    assert again == {"home": {**again["home"], "last_read_id": "124", "version": 1}}
    both = notify.get(
        "/api/v1/markers", alice, params=[("timeline[]", "home"), ("timeline[]", "notifications")]
    )
    assert set(both.json()) == {"home", "notifications"}
    bad = notify.post("/api/v1/markers", alice, json={"home": {"last_read_id": "x\x00"}})
    assert bad.status_code == 422 and bad.json()["error"].startswith("Validation failed")
    assert notify.client.post("/api/v1/markers", user_id=alice, scopes="read", json={}).status_code == 403


def test_the_document_describes_what_markers_take(notify):
    """The body (JSON, form or multipart) and the 409 of a lost race are in the document, so clients
    and fuzzers send markers, not an empty request."""
    doc = notify.client.get("/openapi.json").json()
    operation = doc["paths"]["/api/v1/markers"]["post"]
    bodies = {kind: content["schema"] for kind, content in operation["requestBody"]["content"].items()}
    assert set(bodies) == {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
    schema = doc["components"]["schemas"][bodies["application/json"]["$ref"].rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"home", "notifications"}
    assert operation["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )


def test_a_notification_shows_once_its_sender_is_known(notify):
    """Events of different accounts arrive in any order: a follow before the follower's account."""
    ev = notify.events
    alice = ev.account()
    stranger = 10**15
    ev.follow(stranger, alice)
    assert notify.notifications(alice) == []
    assert notify.get("/api/v1/notifications/unread_count", alice).json() == {"count": 0}


def _follow_link(notify, user: int, answer: Any, link: dict[str, Any]) -> Any:
    """Follows an OpenAPI link as a client would: the target operation from its `operationRef`,
    each parameter read from the answer's body by its runtime expression."""
    ref_path, method = link["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
    path = ref_path.replace("~1", "/").replace("~0", "~")
    for name, expression in link["parameters"].items():
        value = answer
        for step in expression.removeprefix("$response.body#/").split("/"):
            value = value[int(step)] if isinstance(value, list) else value[step]
        path = path.replace("{" + name + "}", str(value))
    return notify.client.request(method.upper(), path, user_id=user)


def test_the_lists_link_to_their_newest_notification_and_group(notify):
    """The document's links (what stateful clients and fuzzers chain) lead from a page to the
    reads and dismissal of its newest notification, and of its newest group."""
    ev = notify.events
    alice, bob = ev.account(), ev.account()
    ev.follow(bob, alice)
    ev.favourite(ev.status(alice, "linked"), bob)
    paths = notify.client.get("/openapi.json").json()["paths"]
    for list_path, reads in (
        ("/api/v1/notifications", ("GetNotification",)),
        ("/api/v2/notifications", ("GetGroup", "GetGroupAccounts")),
    ):
        links = paths[list_path]["get"]["responses"]["200"]["links"]
        page = notify.get(list_path, alice).json()
        for name in reads:
            read = _follow_link(notify, alice, page, links[name])
            assert read.status_code == 200, (name, read.text)
        newest = page[0]["id"] if isinstance(page, list) else page["notification_groups"][0]["group_key"]
        assert newest in str(_follow_link(notify, alice, page, links[reads[0]]).json())
        dismiss = next(link for name, link in links.items() if name.startswith("Dismiss"))
        assert _follow_link(notify, alice, page, dismiss).status_code == 200
        assert _follow_link(notify, alice, page, links[reads[0]]).status_code == 404
