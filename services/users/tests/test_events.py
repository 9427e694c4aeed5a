"""The contract of every event the service publishes: the payload that went out validates against
its schema (microblog_common.contracts.users) and carries what ARCHITECTURE.md lists."""

from __future__ import annotations

from microblog_common.contracts.aggregates import AGGREGATE_OF
from microblog_common.contracts.users import follow_subject
from users.events import CONTRACTS

# ARCHITECTURE.md, "Events": the data each event carries at least.
REQUIRED = {
    "user.registered": {"id", "username", "display_name", "note", "avatar", "created_at", "email", "locale"},
    "user.updated": {"id", "username", "display_name", "note", "avatar", "created_at", "version"},
    "user.followed": {"follower_id", "followee_id", "at"},
    "user.unfollowed": {"follower_id", "followee_id", "at"},
    "user.password_reset_requested": {"user_id", "email", "token", "expires_at"},
}


def check(event) -> None:
    assert event.producer == "users" and event.subject
    contract = CONTRACTS[event.type]
    contract.model_validate(event.data)  # raises if the payload breaks its schema
    assert REQUIRED[event.type] <= set(event.data), event.type


# Its consumers handle it already; the service has no account deletion yet (API.md has none).
NOT_PUBLISHED_YET = {"user.deleted"}


def test_every_event_type_has_a_contract():
    assert set(CONTRACTS) - NOT_PUBLISHED_YET == set(REQUIRED)


def test_user_registered_contract(users):
    alice = users.register("alice")
    (event,) = users.events("user.registered")
    check(event)
    assert event.subject == str(alice.id) and event.data["id"] == str(alice.id)
    assert event.data["email"] == alice.email and event.data["version"] == 1
    assert "password" not in str(event.data).lower()


def test_user_updated_contract_versions_grow(users):
    alice = users.register("alice")
    for note in ("one", "two"):
        users.as_(alice.token).patch("/api/v1/accounts/update_credentials", data={"note": note})
    # No change, no event.
    users.as_(alice.token).patch("/api/v1/accounts/update_credentials", data={"note": "two"})
    events = users.events("user.updated", 2)
    for event in events:
        check(event)
    assert [e.data["version"] for e in events] == [2, 3]
    assert "email" not in events[0].data
    assert len(users.events("user.updated", 3, timeout=0.5)) == 2


def test_follow_events_contract(users):
    alice, bob = users.register("alice"), users.register("bob")
    users.as_(alice.token).post(f"/api/v1/accounts/{bob.id}/follow")
    users.as_(alice.token).post(f"/api/v1/accounts/{bob.id}/unfollow")
    for event_type in ("user.followed", "user.unfollowed"):
        (event,) = users.events(event_type)
        check(event)
        assert event.data["follower_id"] == str(alice.id) and event.data["followee_id"] == str(bob.id)


def test_every_change_of_a_follow_pair_carries_a_newer_version_of_the_pair(users):
    """The follow events' aggregate is the pair (`follow_subject`): follow, a change of its flags,
    unfollow and following again are versions 1 to 4, whatever other pairs do meanwhile."""
    alice, bob, carol = users.register("alice"), users.register("bob"), users.register("carol")
    me = users.as_(alice.token)
    me.post(f"/api/v1/accounts/{bob.id}/follow")
    me.post(f"/api/v1/accounts/{carol.id}/follow")
    me.post(f"/api/v1/accounts/{bob.id}/follow", data={"notify": "true"})
    me.post(f"/api/v1/accounts/{bob.id}/unfollow")
    me.post(f"/api/v1/accounts/{bob.id}/follow")
    changes = users.events("user.followed", 4) + users.events("user.unfollowed")
    pair = follow_subject(alice.id, bob.id)
    versions = sorted(e.version for e in changes if e.subject == pair)
    assert versions == [1, 2, 3, 4]
    assert [e.version for e in changes if e.subject == follow_subject(alice.id, carol.id)] == [1]
    assert {AGGREGATE_OF[e.type] for e in changes} == {"follow"}


def test_account_events_carry_the_account_version(users):
    alice = users.register("alice")
    users.as_(alice.token).patch("/api/v1/accounts/update_credentials", data={"note": "new"})
    (registered,) = users.events("user.registered")
    (updated,) = users.events("user.updated")
    assert (registered.subject, registered.version) == (str(alice.id), 1)
    assert (
        (updated.subject, updated.version) == (str(alice.id), updated.data["version"]) == (str(alice.id), 2)
    )


def test_password_reset_requested_contract(users):
    alice = users.register("alice")
    users.client.post("/api/v1/auth/password_reset", data={"email": alice.email})
    (event,) = users.events("user.password_reset_requested")
    check(event)
    assert event.data["reset_url"].endswith(event.data["token"]) and event.data["username"] == "alice"


def test_posting_defaults_travel_with_the_snapshot(users):
    """The posts service gives a post that names no visibility the author's default."""
    alice = users.register("alice")
    (registered,) = users.events("user.registered")
    assert registered.data["default_privacy"] == "public" and registered.data["default_sensitive"] is False
    defaults = {"source[privacy]": "private", "source[sensitive]": "true"}
    users.as_(alice.token).patch("/api/v1/accounts/update_credentials", data=defaults)
    (updated,) = users.events("user.updated")
    check(updated)
    assert updated.data["default_privacy"] == "private" and updated.data["default_sensitive"] is True
