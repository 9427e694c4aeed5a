"""The replica the documents are built from, on SQLite and PostgreSQL: events replayed, out of
order or with gaps end in the sources' state; counts and hashtag uses follow; an account's
deletion takes its statuses out of the index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from microblog_common.testing import database_url
from search.models import Account, Favourite, TagUse

from .conftest import Search, start


@pytest.fixture
def replica(request, tmp_path, backend):
    with start(
        database_url(request, tmp_path, backend, "search"), {"search_index_dir": tmp_path / "index"}
    ) as s:
        yield s


def _account(search: Search, account_id: int) -> Account:
    with search.app.state.db.unit_of_work() as session:
        row = session.get(Account, account_id)
        assert row is not None
        session.expunge(row)
        return row


def test_replays_gaps_and_counts(replica: Search):
    alice, bob = replica.register("alice"), replica.register("bob")
    replica.follow(bob, alice)
    post = replica.post(alice, "tea time #Tea", tags=("Tea",))
    replica.post(alice, "a direct word", visibility="direct")
    # The same event twice (a redelivery): applied once.
    replica.deliver("post.published", post.data, post.id, 1)
    replica.indexed()
    counted = _account(replica, alice.id)
    assert (counted.statuses_count, counted.followers_count, counted.following_count) == (1, 1, 0)
    assert _account(replica, bob.id).following_count == 1
    with replica.app.state.db.unit_of_work() as session:
        assert [(u.name, u.status_id) for u in session.scalars(select(TagUse))] == [("tea", post.id)]
    # An edit whose publish was never seen creates the status as it is now.
    late = replica.post(bob, "never published")
    replica.edit(late, "seen only as an edit")
    replica.indexed()
    assert replica.statuses(bob, q="edit") == [late.id]
    # Unfollow counts down; a stale follow event (older version) changes nothing.
    replica.unfollow(bob, alice)
    replica.deliver(
        "user.followed",
        {"follower_id": str(bob.id), "followee_id": str(alice.id), "at": datetime.now(UTC).isoformat(),
         "notify": False, "reblogs": True, "languages": None},
        f"{bob.id}:{alice.id}",
        1,
        "users",
    )  # fmt: skip
    assert _account(replica, alice.id).followers_count == 0
    replica.delete(post)
    replica.indexed()
    assert _account(replica, alice.id).statuses_count == 0
    with replica.app.state.db.unit_of_work() as session:
        assert list(session.scalars(select(TagUse))) == []


def test_favourites_keep_the_newest_change(replica: Search):
    alice, bob = replica.register("alice"), replica.register("bob")
    post = replica.post(alice, "favourite me")
    now = datetime.now(UTC)
    base = {"status_id": str(post.id), "status_account_id": str(alice.id), "account_id": str(bob.id)}
    replica.deliver("post.unfavourited", base | {"at": now.isoformat()}, post.id)
    # An older favourite arriving after the unfavourite is ignored.
    old = base | {"id": "1", "status": post.data, "at": (now - timedelta(seconds=5)).isoformat()}
    replica.deliver("post.favourited", old, post.id)
    replica.indexed()
    with replica.app.state.db.unit_of_work() as session:
        assert session.scalars(select(Favourite.active)).one() is False
    assert replica.statuses(bob, q="favourite in:library") == []
    assert replica.search(bob, q="favourite", type="statuses")["statuses"][0]["favourites_count"] == 0


def test_a_deleted_account_takes_its_statuses_with_it(replica: Search):
    alice, bob = replica.register("alice"), replica.register("bob")
    replica.post(alice, "soon gone")
    replica.indexed()
    assert len(replica.statuses(bob, q="gone")) == 1
    replica.deliver("user.deleted", {"id": str(alice.id)}, alice.id, 2, "users")
    replica.indexed()
    assert replica.statuses(bob, q="gone") == []
    assert replica.accounts(bob, q="alice") == []
