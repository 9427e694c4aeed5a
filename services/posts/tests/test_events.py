"""The contracts of the events: every payload the service publishes validates against its shared
model (`microblog_common.contracts.posts`) and carries what ARCHITECTURE.md lists, with a growing
version; what the users service publishes (`microblog_common.contracts.users`, as its models dump
it) is what the replica reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from microblog_common.contracts import Contract
from microblog_common.contracts.posts import CONTRACTS, POST_PUBLISHED, PostFavourited
from microblog_common.contracts.users import UserDeleted, UserFollowed, UserRegistered, follow_subject
from microblog_common.ids import new_id
from posts import events

from .conftest import User

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
    "post.unfavourited": {"status_id", "status_account_id", "account_id", "at"},
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


def test_a_payload_of_another_contract_is_refused():
    with pytest.raises(TypeError, match=r"post\.published carries StatusSnapshot, not PostFavourited"):
        events.publish(Session(), POST_PUBLISHED, PostFavourited.model_construct(), subject=1, version=1)


def shared(model: type[Contract], **data) -> dict:
    """A payload as the users service writes it: built from the shared model, dumped to JSON."""
    return model(**data).model_dump(mode="json")


def test_the_replica_reads_the_shared_user_contracts(posts):
    alice, bob = User(new_id(), "alice"), User(new_id(), "bob")
    for user in (alice, bob):
        data = shared(UserRegistered, **posts.snapshot(user), email=f"{user.username}@x.example", locale="en")
        posts.deliver("user.registered", data, user.id)
    at = datetime.now(UTC)
    follow = {"follower_id": str(bob.id), "followee_id": str(alice.id), "at": at}
    data = shared(UserFollowed, **follow, notify=False, reblogs=True, languages=None)
    posts.deliver("user.followed", data, follow_subject(bob.id, alice.id), version=1)
    status = posts.as_(alice).status("hello")
    assert status["account"]["id"] == str(alice.id) and status["account"]["followers_count"] == 1
    assert [s["id"] for s in posts.as_(bob).get("/api/v1/timelines/home").json()] == [status["id"]]
    posts.deliver("user.deleted", shared(UserDeleted, id=str(alice.id)), alice.id, version=alice.version + 1)
    assert posts.anonymous.get(f"/api/v1/statuses/{status['id']}").status_code == 404


def test_post_unfavourited_contract(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    created = posts.as_(alice).status("like, then not")
    posts.as_(bob).post(f"/api/v1/statuses/{created['id']}/favourite")
    posts.as_(bob).post(f"/api/v1/statuses/{created['id']}/unfavourite")
    posts.as_(bob).post(f"/api/v1/statuses/{created['id']}/unfavourite")  # nothing to take back
    (event,) = posts.events("post.unfavourited")
    check(event)
    assert event.data["account_id"] == str(bob.id) and event.data["status_id"] == created["id"]
    assert event.subject == created["id"] and event.data["status_account_id"] == str(alice.id)
    assert posts.events("post.unfavourited", 2, timeout=0.3) == [event]
