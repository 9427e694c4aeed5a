"""Scheduled statuses: the API (create, list, show, move, cancel), Mastodon's limits, and the
publisher: on time, exactly once with two publishers on one database, and after a restart."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from posts.scheduled.publisher import ScheduledPublisher

from .conftest import wait_for

PARAMS = {
    "text", "poll", "media_ids", "sensitive", "spoiler_text", "visibility", "language", "scheduled_at",
    "idempotency", "with_rate_limit", "in_reply_to_id", "application_id", "allowed_mentions",
    "quoted_status_id", "quote_approval_policy",
}  # fmt: skip


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def test_scheduling_api(start_service):
    with start_service(scheduled_min_lead_seconds=60) as posts:
        alice, bob = posts.register("alice"), posts.register("bob")
        me = posts.as_(alice)
        created = me.post(
            "/api/v1/statuses",
            json={
                "status": "later",
                "scheduled_at": at(3600),
                "visibility": "unlisted",
                "spoiler_text": "cw",
            },
            application_id=42,  # what the gateway passes on from the token
        )
        assert created.status_code == 200, created.text
        body = created.json()
        assert set(body) == {"id", "scheduled_at", "params", "media_attachments"}
        assert set(body["params"]) == PARAMS and body["params"]["text"] == "later"
        # Mastodon's `application_id`: the application's numeric id, a JSON number.
        assert body["params"]["application_id"] == 42
        assert body["params"]["visibility"] == "unlisted" and body["media_attachments"] == []
        path = f"/api/v1/scheduled_statuses/{body['id']}"
        assert me.get(path).json() == body
        assert posts.as_(bob).get(path).status_code == 404
        assert posts.as_(bob).put(path, json={"scheduled_at": at(7200)}).status_code == 404
        assert posts.as_(bob).delete(path).status_code == 404
        moved = me.put(path, data={"scheduled_at": at(7200)})
        assert moved.status_code == 200 and moved.json()["scheduled_at"] > body["scheduled_at"]
        too_soon = me.put(path, json={"scheduled_at": at(10)})
        assert too_soon.status_code == 422
        assert (
            too_soon.json()["error"]
            == "Validation failed: Scheduled at The scheduled date must be in the future"
        )
        for when in (at(10), at(-3600), "not a date"):
            r = me.post("/api/v1/statuses", json={"status": "x", "scheduled_at": when})
            assert r.status_code == 422, when
        assert me.get(f"/api/v1/accounts/{alice.id}/statuses").json() == []  # nothing published yet
        others = []
        for i in range(4):
            r = me.post("/api/v1/statuses", json={"status": f"s{i}", "scheduled_at": at(4000 + i)})
            others.append(r.json()["id"])
        first = me.get("/api/v1/scheduled_statuses?limit=2")
        assert [s["id"] for s in first.json()] == [others[3], others[2]]
        assert 'rel="next"' in first.headers["link"]
        rest = me.get(f"/api/v1/scheduled_statuses?limit=10&max_id={others[2]}")
        assert [s["id"] for s in rest.json()] == [others[1], others[0], body["id"]]
        assert me.delete(path).json() == {}
        assert me.get(path).status_code == 404
        assert posts.anonymous.get("/api/v1/scheduled_statuses").status_code == 401
        assert posts.as_(alice, scopes="write").get("/api/v1/scheduled_statuses").status_code == 403
        # An idempotent retry gets the same scheduled status back.
        key = {"Idempotency-Key": "sched-1"}
        once = me.post("/api/v1/statuses", json={"status": "k", "scheduled_at": at(5000)}, headers=key)
        again = me.post("/api/v1/statuses", json={"status": "k", "scheduled_at": at(5000)}, headers=key)
        assert once.json()["id"] == again.json()["id"] and "params" in again.json()


def test_times_at_the_ends_of_the_calendar_are_answered(start_service):
    """The last representable day is a day like any other; a time that is out of range once
    converted to UTC is invalid (never a 500)."""
    with start_service(scheduled_daily_limit=1) as posts:
        me = posts.as_(posts.register("alice"))
        last = me.post("/api/v1/statuses", json={"status": "x", "scheduled_at": "9999-12-31T23:59:59Z"})
        assert last.status_code == 200, last.text
        assert last.json()["scheduled_at"] == "9999-12-31T23:59:59.000Z"
        full = me.post("/api/v1/statuses", json={"status": "y", "scheduled_at": "9999-12-31T12:00:00Z"})
        assert full.status_code == 422 and "for today" in full.json()["error"]
        path = f"/api/v1/scheduled_statuses/{last.json()['id']}"
        for when in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "10000-01-01T00:00:00Z"):
            created = me.post("/api/v1/statuses", json={"status": "z", "scheduled_at": when})
            assert created.status_code == 422, (when, created.text)
            assert created.json()["error"] == "Validation failed: Scheduled at is invalid"
            assert me.put(path, json={"scheduled_at": when}).status_code == 422, when
        assert me.put(path, json={"scheduled_at": "9999-12-31T00:00:00Z"}).status_code == 200
        assert len(me.get("/api/v1/scheduled_statuses").json()) == 1


def test_scheduling_limits(start_service):
    with start_service(
        scheduled_min_lead_seconds=1, scheduled_total_limit=5, scheduled_daily_limit=3
    ) as posts:
        me = posts.as_(posts.register("alice"))
        day = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=2)
        for i in range(3):
            when = (day + timedelta(minutes=i)).isoformat()
            assert me.post("/api/v1/statuses", json={"status": "x", "scheduled_at": when}).status_code == 200
        fourth = me.post(
            "/api/v1/statuses", json={"status": "x", "scheduled_at": (day + timedelta(hours=1)).isoformat()}
        )
        assert fourth.status_code == 422
        assert (
            fourth.json()["error"]
            == "Validation failed: You have exceeded the limit of 3 scheduled posts for today"
        )
        for i in range(2):
            when = (day + timedelta(days=1 + i)).isoformat()
            assert me.post("/api/v1/statuses", json={"status": "x", "scheduled_at": when}).status_code == 200
        sixth = me.post(
            "/api/v1/statuses", json={"status": "x", "scheduled_at": (day + timedelta(days=5)).isoformat()}
        )
        assert sixth.json()["error"] == "Validation failed: You have exceeded the limit of 5 scheduled posts"
        moved_into_full_day = me.get("/api/v1/scheduled_statuses").json()[0]
        r = me.put(
            f"/api/v1/scheduled_statuses/{moved_into_full_day['id']}", json={"scheduled_at": day.isoformat()}
        )
        assert r.status_code == 422


def _by(statuses: list[dict], username: str) -> dict | None:
    return next((s for s in statuses if s["account"]["username"] == username), None)


def test_a_due_status_is_published_on_time_with_its_parameters(start_service):
    with start_service(scheduled_min_lead_seconds=1) as posts:
        alice, bob = posts.register("alice"), posts.register("bob")
        posts.follow(bob, alice)
        parent = posts.as_(bob).status("parent")
        due = datetime.now(UTC) + timedelta(seconds=1.5)
        created = posts.as_(alice).post(
            "/api/v1/statuses",
            json={"status": "@bob scheduled #later", "scheduled_at": due.isoformat(), "visibility": "private",
                  "in_reply_to_id": parent["id"], "language": "fr", "sensitive": True},
        )  # fmt: skip
        assert created.status_code == 200, created.text
        published = wait_for(
            lambda: _by(posts.as_(bob).get("/api/v1/timelines/home").json(), "alice"), timeout=10
        )
        assert published["content"].startswith("<p>") and "scheduled" in published["content"]
        assert (
            published["visibility"] == "private" and published["language"] == "fr" and published["sensitive"]
        )
        assert published["in_reply_to_id"] == parent["id"] and published["tags"][0]["name"] == "later"
        event = posts.events("post.published", 2)[-1]
        delay = datetime.fromisoformat(event.data["created_at"]) - due
        assert timedelta(0) <= delay < timedelta(seconds=3), delay
        assert posts.as_(alice).get(f"/api/v1/scheduled_statuses/{created.json()['id']}").status_code == 404


def _count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_two_publishers_publish_each_due_status_exactly_once(start_service, db_url):
    """Two replicas of the service on one database, each with its publisher, plus two more
    publishers racing in threads: every scheduled status becomes exactly one status and one event."""
    with (
        start_service(scheduled_min_lead_seconds=0.5) as first,
        start_service(scheduled_min_lead_seconds=0.5) as second,
    ):
        users = [first.register(f"user{i}") for i in range(4)]
        scheduled = []
        for i in range(24):
            caller = (first if i % 2 else second).as_(users[i % 4])
            r = caller.post(
                "/api/v1/statuses", json={"status": f"post {i}", "scheduled_at": at(1.0 + (i % 3) * 0.3)}
            )
            assert r.status_code == 200, r.text
            scheduled.append(r.json()["id"])
        extra = [ScheduledPublisher(app.state.db, app.state.runtime) for app in (first.app, second.app)]

        def race(publisher: ScheduledPublisher) -> None:
            for _ in range(60):
                publisher.publish_due()
                time.sleep(0.05)

        racers = [threading.Thread(target=race, args=(p,)) for p in extra]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert wait_for(lambda: _count(db_url, "SELECT count(*) FROM scheduled_statuses") == 0, timeout=10)
        assert _count(db_url, "SELECT count(*) FROM statuses") == 24
        assert _count(db_url, "SELECT count(DISTINCT text) FROM statuses") == 24
        assert _count(db_url, "SELECT count(*) FROM outbox WHERE type = 'post.published'") == 24


def test_overdue_statuses_are_published_after_a_restart(start_service, db_url):
    with start_service(scheduled_min_lead_seconds=0.2, scheduled_poll_interval_seconds=3600) as posts:
        alice = posts.register("alice")
        for i in range(3):
            posts.as_(alice).post("/api/v1/statuses", json={"status": f"p{i}", "scheduled_at": at(0.5)})
        time.sleep(1)  # due now, but this publisher sleeps for an hour: it is "down"
    assert _count(db_url, "SELECT count(*) FROM statuses") == 0
    with start_service() as restarted:
        assert wait_for(lambda: _count(db_url, "SELECT count(*) FROM statuses") == 3, timeout=10)
        assert len(restarted.events("post.published", 3)) == 3
