"""The internal export of statuses and favourites (the search service's rebuild reads it): every
status as its latest snapshot with its version, every favourite, paged by id; signed calls
without a user only."""

from __future__ import annotations

from microblog_common.contracts.posts import ExportedFavourite, StatusSnapshot
from microblog_common.testing import read_export


def test_statuses_and_favourites_are_exported_with_their_versions(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    first = posts.as_(alice).status("first")
    second = posts.as_(bob).status("second", visibility="direct")
    posts.as_(alice).put(f"/api/v1/statuses/{first['id']}", json={"status": "first, edited"})
    gone = posts.as_(alice).status("to delete")
    posts.as_(alice).delete(f"/api/v1/statuses/{gone['id']}")
    posts.as_(bob).post(f"/api/v1/statuses/{first['id']}/favourite")

    statuses = read_export(posts.client, "statuses", limit=1)
    assert [s["data"]["id"] for s in statuses] == [first["id"], second["id"]]  # the deleted one is gone
    for item in statuses:
        StatusSnapshot.model_validate(item["data"])
    assert statuses[0]["version"] == 2 and statuses[0]["data"]["text"] == "first, edited"
    assert statuses[1]["data"]["visibility"] == "direct" and statuses[1]["version"] == 1

    (favourite,) = read_export(posts.client, "favourites", limit=10)
    fav = ExportedFavourite.model_validate(favourite["data"])
    assert (fav.status_id, fav.account_id, fav.status_account_id) == (first["id"], str(bob.id), str(alice.id))


def test_the_export_is_for_the_services_only(posts):
    alice = posts.register("alice")
    assert posts.client.get("/internal/export/statuses", user_id=alice.id).status_code == 403
    assert posts.raw.get("/internal/export/statuses").status_code == 403  # unsigned
