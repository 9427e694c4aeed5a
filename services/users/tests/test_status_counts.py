"""`statuses_count` and `last_status_at` of an Account, kept from the posts service's
`post.published` and `post.deleted` events (delivered here on the service's bus, as the broker
would): counted once, direct statuses left out, and a late or repeated event changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from microblog_common.contracts.posts import POST_DELETED, POST_PUBLISHED, PostDeleted, StatusSnapshot
from microblog_common.events import Event
from microblog_common.ids import new_id
from microblog_common.testing import wait_until


def _snapshot(account_id: int, *, visibility: str = "public", at: datetime | None = None) -> dict:
    status_id = new_id()
    return StatusSnapshot(
        id=str(status_id), account_id=str(account_id), acct="x", url="u", uri="u", text="t", html="<p>t</p>",
        spoiler_text="", sensitive=False, visibility=visibility, language="en", in_reply_to_id=None,
        in_reply_to_account_id=None, mentions=[], tags=[], created_at=at or datetime.now(UTC),
        edited_at=None, version=1,
    ).model_dump(mode="json")  # fmt: skip


def _deliver(users, event_type: str, data: dict, version: int) -> Event:
    event = Event(type=event_type, producer="posts", subject=data["id"], version=version, data=data)
    users.raw.portal.call(users.app.state.bus.publish, [event])
    return event


def _deleted(snapshot: dict) -> dict:
    gone = {**snapshot, "version": snapshot["version"] + 1, "deleted_at": datetime.now(UTC).isoformat()}
    return PostDeleted.model_validate(gone).model_dump(mode="json")


def _account(users, account) -> dict:
    return users.as_(account.token).get(f"/api/v1/accounts/{account.id}").json()


def test_published_and_deleted_statuses_are_counted_once(users):
    alice = users.register("alice")
    assert (_account(users, alice)["statuses_count"], _account(users, alice)["last_status_at"]) == (0, None)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    first, second = _snapshot(alice.id, at=yesterday), _snapshot(alice.id)
    published = _deliver(users, POST_PUBLISHED, first, 1)
    users.raw.portal.call(users.app.state.bus.publish, [published])  # the same event again
    _deliver(users, POST_PUBLISHED, second, 1)
    _deliver(users, POST_PUBLISHED, _snapshot(alice.id, visibility="direct"), 1)
    assert wait_until(lambda: _account(users, alice)["statuses_count"] == 2)
    assert _account(users, alice)["last_status_at"] == datetime.now(UTC).date().isoformat()
    _deliver(users, POST_DELETED, _deleted(second), 2)
    assert wait_until(lambda: _account(users, alice)["statuses_count"] == 1)


def test_a_publish_arriving_after_its_delete_changes_nothing(users):
    """Out of order (a retry, another consumer): the delete (version 2) is applied first, the late
    publish (version 1) is dropped by the shared version rule, and nothing was ever counted."""
    alice = users.register("alice")
    status = _snapshot(alice.id)
    _deliver(users, POST_DELETED, _deleted(status), 2)
    _deliver(users, POST_PUBLISHED, status, 1)
    marker = _snapshot(alice.id)
    _deliver(users, POST_PUBLISHED, marker, 1)  # handled after the two above: the count settles
    assert wait_until(lambda: _account(users, alice)["statuses_count"] == 1)
    assert _account(users, alice)["statuses_count"] == 1


def test_the_instance_stats_count_accounts_and_statuses(users):
    """For the gateway's instance entities: Mastodon's `user_count`, `status_count` (the sum of
    the accounts' `statuses_count`) and the accounts active this month."""
    alice, bob = users.register("alice"), users.register("bob")
    users.register("carol")
    for account in (alice, alice, bob):
        _deliver(users, POST_PUBLISHED, _snapshot(account.id), 1)
    assert wait_until(lambda: users.client.get("/internal/stats").json()["status_count"] == 3)
    assert users.client.get("/internal/stats").json() == {
        "user_count": 3,
        "status_count": 3,
        "active_month": 2,
    }
    assert users.as_(alice.token).get("/internal/stats").status_code == 403
