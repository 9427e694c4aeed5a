"""The replica kept from events, on SQLite and PostgreSQL: snapshots applied in version order
(the shared consumer drops stale ones), a status first seen through an update, a deleted account
taking its statuses, follows and translations with it; and the background clean-up of expired
translations and old rate-limit windows."""

from __future__ import annotations

from microblog_common.testing import wait_until

from .conftest import Translate, microsoft_settings, started


def test_an_older_snapshot_changes_nothing_and_an_update_first_is_an_upsert(service: Translate):
    alice, bob = service.register("alice"), service.register("bob")
    status = service.post(alice, "<p>Version one</p>")
    edited = service.edit(status, "<p>Version two</p>")
    # A redelivered v1 (a retry, another replica's consumer) is dropped: v2 stays.
    service.deliver("post.published", status.model_dump(mode="json"), status.id, 1)
    service.deliver("post.updated", edited.model_dump(mode="json"), edited.id, edited.version)
    assert "vERSION TWO" in service.translate(edited, bob, data={"lang": "de"}).json()["content"]
    assert (
        service.scalar("SELECT content FROM statuses WHERE id = :id", id=int(status.id))
        == "<p>Version two</p>"
    )

    # A status whose post.published never arrived: its first update is its whole state.
    unseen = service.snapshot(alice, "<p>Seen late</p>", version=3, visibility="unlisted")
    service.deliver("post.updated", unseen.model_dump(mode="json"), unseen.id, 3)
    service.wait_for_status(int(unseen.id), 3)
    assert service.translate(unseen, bob, data={"lang": "de"}).status_code == 200


def test_a_deleted_account_takes_its_statuses_follows_and_translations(service: Translate):
    alice, bob = service.register("alice"), service.register("bob")
    service.follow(bob, alice)
    service.follow(alice, bob)
    status = service.post(alice, "<p>Soon gone</p>")
    other = service.post(bob, "<p>Stays</p>")
    assert service.translate(status, bob, data={"lang": "de"}).status_code == 200
    assert service.translate(other, alice, data={"lang": "de"}).status_code == 200
    assert service.cached_for(int(status.id)) == 1

    service.deliver("user.deleted", {"id": str(alice.id)}, str(alice.id), 2)
    assert wait_until(
        lambda: service.scalar("SELECT count(*) FROM accounts WHERE id = :id", id=alice.id) == 0
    )
    assert service.scalar("SELECT count(*) FROM statuses WHERE account_id = :id", id=alice.id) == 0
    assert service.scalar("SELECT count(*) FROM follows") == 0
    assert service.cached_for(int(status.id)) == 0
    assert service.cached_for(int(other.id)) == 1
    assert service.translate(status, bob, data={"lang": "de"}).status_code == 404


def test_account_languages_follow_the_snapshots(service: Translate):
    reader = service.register("reader", locale="es")
    author = service.register("author")
    status = service.post(author, "<p>Hello world</p>")
    assert service.translate(status, reader).json()["language"] == "es"
    # A later snapshot names a posting language (user.updated carries no locale: it is kept).
    service.deliver(
        "user.updated",
        {**_account(reader.id, reader.username), "default_language": "fr"},
        str(reader.id),
        2,
    )
    assert wait_until(
        lambda: service.scalar("SELECT default_language FROM accounts WHERE id = :id", id=reader.id) == "fr"
    )
    assert service.scalar("SELECT locale FROM accounts WHERE id = :id", id=reader.id) == "es"
    assert service.translate(status, reader).json()["language"] == "fr"


def _account(account_id: int, username: str) -> dict[str, object]:
    now = "2026-01-01T00:00:00+00:00"
    return {
        "id": str(account_id), "username": username, "acct": username, "display_name": "", "note": "",
        "note_text": "", "url": "", "avatar": "", "avatar_static": "", "header": "", "locked": False,
        "bot": False, "discoverable": True, "indexable": True, "hide_collections": False, "fields": [],
        "created_at": now, "updated_at": now, "version": 2,
    }  # fmt: skip


def test_expired_translations_are_not_served_and_are_cleaned_up(db_url, microsoft, microsoft_url):
    settings = {
        **microsoft_settings(microsoft_url),
        "translation_cache_seconds": 0.3,
        "translation_cleanup_interval_seconds": 0.2,
        "translation_rate_limit_window_seconds": 1,
    }
    with started(db_url, microsoft, **settings) as service:
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, "<p>Short-lived</p>")
        assert service.translate(status, bob, data={"lang": "de"}).status_code == 200
        assert service.cached_for(int(status.id)) == 1
        assert service.scalar("SELECT count(*) FROM translation_rate_windows") == 1
        # The lane's periodic job deletes the entry once expired, and the past windows.
        assert wait_until(lambda: service.cached_for(int(status.id)) == 0, timeout=5)
        assert wait_until(
            lambda: service.scalar("SELECT count(*) FROM translation_rate_windows") == 0, timeout=5
        )
        assert service.translate(status, bob, data={"lang": "de"}).status_code == 200
        assert service.provider_calls() == 2  # expired: translated again


def test_an_expired_entry_is_not_served_before_the_clean_up(db_url, microsoft, microsoft_url):
    settings = {
        **microsoft_settings(microsoft_url),
        "translation_cache_seconds": 0.2,
        "translation_cleanup_interval_seconds": 3600,
    }
    with started(db_url, microsoft, **settings) as service:
        alice, bob = service.register("alice"), service.register("bob")
        status = service.post(alice, "<p>Short-lived</p>")
        assert service.translate(status, bob, data={"lang": "de"}).status_code == 200
        assert wait_until(
            lambda: service.translate(status, bob, data={"lang": "de"}) and service.provider_calls() == 2,
            timeout=5,
        )
        assert service.cached_for(int(status.id)) == 1  # replaced in place, not duplicated
