"""The internal export of accounts and follows (the search service's rebuild reads it): every
account as its `user.updated` snapshot and every follow as its `user.followed` payload, each with
the version the events carry, paged by id; signed calls without a user only."""

from __future__ import annotations

from microblog_common.contracts.users import AccountSnapshot, UserFollowed, follow_subject
from microblog_common.testing import read_export


def test_accounts_and_follows_are_exported_with_their_versions(users):
    alice, bob, carol = users.register("alice"), users.register("bob"), users.register("carol")
    users.as_(alice.token).patch("/api/v1/accounts/update_credentials", data={"display_name": "Alice A."})
    for target in (bob, carol):
        assert users.as_(alice.token).post(f"/api/v1/accounts/{target.id}/follow").status_code == 200
    users.as_(alice.token).post(f"/api/v1/accounts/{carol.id}/unfollow")
    users.as_(alice.token).post(f"/api/v1/accounts/{carol.id}/follow")

    accounts = read_export(users.client, "accounts", limit=2)
    assert [a["data"]["username"] for a in accounts] == ["alice", "bob", "carol"]
    for item in accounts:
        AccountSnapshot.model_validate(item["data"])
    exported_alice = accounts[0]
    (updated,) = [e for e in users.events("user.updated") if e.subject == str(alice.id)][-1:]
    assert exported_alice["version"] == updated.version == exported_alice["data"]["version"]
    assert exported_alice["data"]["display_name"] == "Alice A."

    follows = read_export(users.client, "follows", limit=1)
    assert [(f["data"]["follower_id"], f["data"]["followee_id"]) for f in follows] == [
        (str(alice.id), str(bob.id)),
        (str(alice.id), str(carol.id)),
    ]
    for item in follows:
        UserFollowed.model_validate(item["data"])
    events = [e for e in users.events("user.followed", 3) if e.subject == follow_subject(alice.id, carol.id)]
    assert follows[1]["version"] == max(e.version for e in events) == 3


def test_the_export_is_for_the_services_only(users):
    alice = users.register("alice")
    assert users.client.get("/internal/export/accounts", **users.identity(alice.token)).status_code == 403
    assert users.raw.get("/internal/export/accounts").status_code == 403  # unsigned
    assert users.client.get("/internal/export/accounts?limit=100000").status_code == 422
