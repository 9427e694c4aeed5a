"""The contract of every event the service publishes: the payload that went out validates against
its schema (posts.events) and carries what ARCHITECTURE.md lists, with a growing version."""

from __future__ import annotations

from posts.events import CONTRACTS

# ARCHITECTURE.md, "Events": the data each event carries at least.
SNAPSHOT = {
    "id", "account_id", "text", "html", "language", "visibility", "in_reply_to_id", "in_reply_to_account_id",
    "mentions", "tags", "created_at", "version",
}  # fmt: skip
REQUIRED = {
    "post.published": SNAPSHOT,
    "post.updated": SNAPSHOT | {"edited_at"},
    "post.deleted": {"id", "account_id", "version", "deleted_at"},
    "post.favourited": {"status_id", "status_account_id", "account_id", "status"},
}


def check(event) -> None:
    assert event.producer == "posts" and event.subject
    CONTRACTS[event.type].model_validate(event.data)  # raises if the payload breaks its schema
    assert REQUIRED[event.type] <= set(event.data), event.type


def test_every_event_type_has_a_contract():
    assert set(CONTRACTS) == set(REQUIRED)


def test_post_published_contract(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    parent = posts.as_(bob).status("parent")
    created = posts.as_(alice).status("@bob hi #tea", in_reply_to_id=parent["id"], language="en")
    event = posts.events("post.published", 2)[1]
    check(event)
    assert event.subject == created["id"] and event.version == 1 and event.data["version"] == 1
    assert event.data["in_reply_to_id"] == parent["id"] and event.data["in_reply_to_account_id"] == str(
        bob.id
    )
    assert event.data["mentions"][0]["id"] == str(bob.id) and event.data["tags"] == ["tea"]
    assert event.data["text"] == "@bob hi #tea" and event.data["html"] == created["content"]


def test_post_updated_and_deleted_contracts(posts):
    alice = posts.register("alice")
    created = posts.as_(alice).status("v1")
    posts.as_(alice).put(f"/api/v1/statuses/{created['id']}", json={"status": "v2"})
    posts.as_(alice).delete(f"/api/v1/statuses/{created['id']}")
    (updated,) = posts.events("post.updated")
    (deleted,) = posts.events("post.deleted")
    check(updated)
    check(deleted)
    assert updated.version == updated.data["version"] == 2 and updated.data["text"] == "v2"
    assert deleted.version == deleted.data["version"] == 3 and deleted.data["id"] == created["id"]


def test_post_favourited_contract(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    created = posts.as_(alice).status("like")
    posts.as_(bob).post(f"/api/v1/statuses/{created['id']}/favourite")
    (event,) = posts.events("post.favourited")
    check(event)
    assert event.data["account_id"] == str(bob.id) and event.data["status_account_id"] == str(alice.id)
    assert event.data["status"]["id"] == created["id"] and event.version == 1
