"""Issue: posts. The Mastodon.py library, pointed at the gateway, posts (with an idempotency key),
reads, edits with history, deletes, replies and reads the thread, favourites, reads the home,
public, hashtag and account timelines page by page, schedules posts, and sees a display name
changed in the users service in the posts service's statuses once the event has arrived.
Runs in the embedded mode and over PostgreSQL + RabbitMQ with a process per service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import requests
from mastodon import Mastodon, MastodonNotFoundError

from tests.e2e.conftest import WITH_WORKERS, eventually
from tests.e2e.test_mastodon_accounts import SCOPES, _client, _register

# Also with every service's event lane in a worker process of its own.
pytestmark = WITH_WORKERS


@pytest.fixture(scope="module")
def app_credentials(microblog):
    return Mastodon.create_app("e2e-posts", scopes=SCOPES, redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                               api_base_url=microblog.url)  # fmt: skip


def _person(microblog, creds, prefix: str) -> tuple[Mastodon, str, str]:
    api, name = _register(microblog, creds, prefix)
    return api, name, api.account_verify_credentials().id


def test_post_read_edit_history_and_delete(microblog, app_credentials):
    alice, name, _ = _person(microblog, app_credentials, "alice")
    key = str(uuid.uuid4())
    posted = alice.status_post("Hello #fediverse, this is my first post!", idempotency_key=key)
    retried = alice.status_post("Hello #fediverse, this is my first post!", idempotency_key=key)
    assert retried.id == posted.id
    assert posted.account.acct == name and posted.visibility == "public" and posted.language == "en"
    assert [t.name for t in posted.tags] == ["fediverse"] and "hashtag" in posted.content

    anonymous = _client(microblog, app_credentials)
    assert anonymous.status(posted.id).content == posted.content
    updated = alice.status_update(posted.id, "Hello again, edited.", spoiler_text="cw")
    assert updated.edited_at is not None and updated.spoiler_text == "cw"
    history = alice.status_history(posted.id)
    assert len(history) == 2 and "first post" in history[0].content and "edited" in history[1].content

    deleted = alice.status_delete(posted.id)
    assert deleted.text == "Hello again, edited."
    with pytest.raises(MastodonNotFoundError):
        alice.status(posted.id)


def test_replies_context_and_favourites(microblog, app_credentials):
    alice, _, alice_id = _person(microblog, app_credentials, "alice")
    bob, _, bob_id = _person(microblog, app_credentials, "bob")
    carol, _, _ = _person(microblog, app_credentials, "carol")
    root = alice.status_post("What do you think?")
    reply = bob.status_reply(root, "I agree.")
    assert reply.in_reply_to_id == root.id and reply.in_reply_to_account_id == alice_id
    assert [m.id for m in reply.mentions] == [alice_id]
    secret = bob.status_post("followers only", visibility="private", in_reply_to_id=root.id)

    context = carol.status_context(root.id)
    assert [s.id for s in context.descendants] == [reply.id]  # carol does not follow bob
    assert [s.id for s in bob.status_context(root.id).descendants] == [reply.id, secret.id]
    assert [s.id for s in carol.status_context(reply.id).ancestors] == [root.id]
    assert alice.status(root.id).replies_count == 1  # the followers-only reply is not counted

    favourited = carol.status_favourite(reply.id)
    assert favourited.favourited is True and favourited.favourites_count == 1
    assert carol.status_favourite(reply.id).favourites_count == 1  # idempotent
    alice.status_favourite(reply.id)
    assert {a.id for a in bob.status_favourited_by(reply.id)} == {
        alice_id,
        carol.account_verify_credentials().id,
    }
    unfavourited = carol.status_unfavourite(reply.id)
    assert unfavourited.favourited is False and unfavourited.favourites_count == 1
    assert bob.status(reply.id).account.id == bob_id


def test_timelines_and_paging(microblog, app_credentials):
    alice, _, alice_id = _person(microblog, app_credentials, "alice")
    bob, _, _ = _person(microblog, app_credentials, "bob")
    bob.account_follow(alice_id)
    tag = f"e2e{uuid.uuid4().hex[:8]}"
    posted = [alice.status_post(f"Post number {i} #{tag}") for i in range(5)]
    newest_first = [s.id for s in reversed(posted)]

    # The follow reaches the posts service as an event; the home feed fills once it has.
    first = eventually(lambda: bob.timeline_home(limit=2), lambda page: len(page) == 2)
    assert [s.id for s in first] == newest_first[:2]
    second = bob.fetch_next(first)
    assert [s.id for s in second] == newest_first[2:4]
    back = bob.fetch_previous(second)
    assert [s.id for s in back] == newest_first[:2]

    public = bob.timeline_public(limit=40)
    assert set(newest_first) <= {s.id for s in public}
    tagged = bob.timeline_hashtag(tag, limit=3)
    assert [s.id for s in tagged] == newest_first[:3]
    assert [s.id for s in bob.fetch_next(tagged)] == newest_first[3:]

    own = bob.account_statuses(alice_id, limit=4)
    assert [s.id for s in own] == newest_first[:4]
    assert [s.id for s in bob.fetch_next(own)] == newest_first[4:]
    assert [s.id for s in bob.account_statuses(alice_id, tagged=tag, exclude_replies=True)] == newest_first


def test_a_display_name_change_reaches_the_statuses(microblog, app_credentials):
    alice, _, _ = _person(microblog, app_credentials, "alice")
    posted = alice.status_post("Before the rename.")
    new_name = f"Alice {uuid.uuid4().hex[:6]}"
    alice.account_update_credentials(display_name=new_name)
    shown = eventually(lambda: alice.status(posted.id), lambda s: s.account.display_name == new_name)
    assert shown.account.display_name == new_name


def test_scheduled_statuses(microblog, app_credentials):
    alice, _, alice_id = _person(microblog, app_credentials, "alice")
    soon = datetime.now(UTC) + timedelta(seconds=4)
    scheduled = alice.status_post("Scheduled hello", scheduled_at=soon)
    assert scheduled.params.text == "Scheduled hello"
    later = alice.status_post("Scheduled later", scheduled_at=datetime.now(UTC) + timedelta(days=1))
    assert {s.id for s in alice.scheduled_statuses()} == {scheduled.id, later.id}

    moved = alice.scheduled_status_update(later.id, datetime.now(UTC) + timedelta(days=2))
    assert moved.scheduled_at > later.scheduled_at
    alice.scheduled_status_delete(later.id)
    with pytest.raises(MastodonNotFoundError):
        alice.scheduled_status(later.id)

    published = eventually(lambda: alice.account_statuses(alice_id), lambda page: len(page) == 1)
    assert published[0].content == "<p>Scheduled hello</p>"
    assert alice.scheduled_statuses() == []


# Every field of Mastodon's Status (4.3, plus the quote fields of 4.4/4.5) and, signed in, the
# viewer's flags; `pinned` on the viewer's own pinnable posts.
STATUS_FIELDS = {
    "id", "uri", "url", "created_at", "account", "content", "text", "visibility", "sensitive", "spoiler_text",
    "media_attachments", "application", "mentions", "tags", "emojis", "reblogs_count", "favourites_count",
    "replies_count", "quotes_count", "in_reply_to_id", "in_reply_to_account_id", "reblog", "poll", "card",
    "language", "edited_at", "quote", "quote_approval", "favourited", "reblogged", "muted", "bookmarked",
    "pinned", "filtered",
}  # fmt: skip


def test_status_shape_and_odd_input_through_the_gateway(microblog, app_credentials):
    """What a client meets through the gateway: the whole Status with the users service's whole
    Account, and odd input answered with Mastodon's errors (never a 500), hashtags in any script."""
    alice, _, alice_id = _person(microblog, app_credentials, "alice")
    tag = f"café{uuid.uuid4().hex[:6]}"
    posted = alice.status_post(f"Un petit #{tag} en terrasse, comme chaque matin.")
    raw = requests.get(f"{microblog.url}/api/v1/statuses/{posted.id}", headers=_bearer(alice), timeout=10)
    assert raw.status_code == 200 and set(raw.json()) == STATUS_FIELDS
    account = requests.get(f"{microblog.url}/api/v1/accounts/{alice_id}", timeout=10).json()
    assert set(raw.json()["account"]) == set(account)  # the replica renders the Account in full
    assert [s.id for s in alice.timeline_hashtag(tag)] == [posted.id]  # percent-encoded path

    def post(**form) -> requests.Response:
        url = f"{microblog.url}/api/v1/statuses"
        return requests.post(url, json=form, headers=_bearer(alice), timeout=10)

    for form in (
        {"status": "x", "visibility": "bogus"},
        {"status": "x", "language": "xx"},
        {"status": "nul \x00 byte"},
        {"status": ""},
        {"status": "x" * 501},
        {"status": "x", "scheduled_at": "not a date"},
        {"status": "x", "scheduled_at": "9999-12-31T23:59:59-01:00"},
        {"status": "x", "in_reply_to_id": "abc"},
    ):
        r = post(**form)
        assert r.status_code in (404, 422) and set(r.json()) <= {"error", "details"}, (form, r.text)
    far = post(status="x", scheduled_at="9999-12-31T23:59:59Z")
    assert far.status_code == 200 and far.json()["scheduled_at"].startswith("9999-12-31")
    alice.scheduled_status_delete(far.json()["id"])
    for path in ("/api/v1/statuses/abc", "/api/v1/statuses/99999999999999999999999/context"):
        r = requests.get(microblog.url + path, headers=_bearer(alice), timeout=10)
        assert r.status_code == 404 and r.json() == {"error": "Record not found"}, path
    for path in ("/api/v1/timelines/tag/a%00b", f"/api/v1/accounts/{alice_id}/statuses?tagged=a%00b"):
        r = requests.get(microblog.url + path, timeout=10)
        assert r.status_code == 200 and r.json() == [], (path, r.text)
    assert len(alice.timeline_public(limit=100000)) <= 40
    assert alice.account_statuses(alice_id) == [alice.status(posted.id)]  # nothing else was made


def _bearer(api: Mastodon) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.access_token}"}


def test_a_post_without_visibility_gets_the_authors_default(microblog, app_credentials):
    """Mastodon.py sends no `visibility` unless asked: the default set in the users service must
    reach the posts service (as an event) and apply there."""
    alice, _, _ = _person(microblog, app_credentials, "alice")
    alice.account_update_credentials(default_privacy="private", default_sensitive=True)
    eventually(
        lambda: alice.status_post("Who sees this?"),
        lambda status: status.visibility == "private",
    )
    assert alice.status_post("Out loud", visibility="public").visibility == "public"
    # Mastodon.py always sends `sensitive` (false by default); a client that leaves it out gets the default.
    bare = httpx.post(
        f"{microblog.url}/api/v1/statuses",
        data={"status": "No flags at all"},
        headers={"Authorization": f"Bearer {alice.access_token}"},
    )
    assert bare.status_code == 200, bare.text
    assert bare.json()["sensitive"] is True and bare.json()["visibility"] == "private"
