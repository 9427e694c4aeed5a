"""Timelines: what each holds, cursor paging with Link headers, and their cost: one query per page
(counted), and on PostgreSQL a plan that walks one index and never sorts the whole set."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from microblog_common.pagination import Page
from posts.timelines import repository, service

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def links(response) -> dict[str, dict[str, str]]:
    found = {}
    for url, rel in LINK.findall(response.headers.get("link", "")):
        query = parse_qs(urlsplit(url).query)
        found[rel] = {k: v[0] for k, v in query.items()} | {"path": urlsplit(url).path}
    return found


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()]


def test_home_holds_own_and_followed_posts_by_the_rules(posts):
    me, friend, other, third = (posts.register(n) for n in ("me", "friend", "other", "third"))
    posts.follow(me, friend)
    posts.follow(me, third)
    mine = posts.as_(me).status("mine")
    theirs = posts.as_(friend).status("friend's")
    not_followed = posts.as_(other).status("other's")
    reply_to_stranger = posts.as_(friend).status("@other hi", in_reply_to_id=not_followed["id"])
    reply_to_me = posts.as_(friend).status("@me hi", in_reply_to_id=mine["id"])
    reply_to_followed = posts.as_(friend).status(
        "@third hi", in_reply_to_id=posts.as_(third).status("t")["id"]
    )
    self_reply = posts.as_(friend).status("thread", in_reply_to_id=theirs["id"])
    home = ids(posts.as_(me).get("/api/v1/timelines/home"))
    assert not_followed["id"] not in home and reply_to_stranger["id"] not in home
    for status in (mine, theirs, reply_to_me, reply_to_followed, self_reply):
        assert status["id"] in home
    assert home == sorted(home, reverse=True)


def test_following_merges_recent_posts_and_unfollowing_removes_them(posts):
    me, friend = posts.register("me"), posts.register("friend")
    before = [posts.as_(friend).status(f"before {i}") for i in range(3)]
    secret = posts.as_(friend).status("followers only", visibility="private")
    dm = posts.as_(friend).status("@me psst", visibility="direct")
    other_dm = posts.as_(friend).status("not for me", visibility="direct")
    posts.follow(me, friend)
    home = ids(posts.as_(me).get("/api/v1/timelines/home"))
    assert set(home) == {s["id"] for s in before} | {secret["id"], dm["id"]}
    assert other_dm["id"] not in home
    posts.unfollow(me, friend)
    assert ids(posts.as_(me).get("/api/v1/timelines/home")) == []
    assert posts.as_(me).get(f"/api/v1/statuses/{secret['id']}").status_code == 404
    assert posts.as_(me).get(f"/api/v1/statuses/{dm['id']}").status_code == 200  # still mentioned


def test_public_and_hashtag_timelines(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    first = posts.as_(alice).status("hello #Fediverse")
    posts.as_(alice).status("unlisted #fediverse", visibility="unlisted")
    thread = posts.as_(alice).status("more #FEDIVERSE", in_reply_to_id=first["id"])
    reply = posts.as_(bob).status("@alice nice #fediverse", in_reply_to_id=first["id"])
    public = ids(posts.anonymous.get("/api/v1/timelines/public"))
    assert public == [thread["id"], first["id"]]  # no unlisted, no replies to others
    assert ids(posts.anonymous.get("/api/v1/timelines/public?local=true")) == public
    assert ids(posts.anonymous.get("/api/v1/timelines/public?remote=true")) == []
    assert ids(posts.anonymous.get("/api/v1/timelines/public?only_media=1")) == []
    tagged = ids(posts.anonymous.get("/api/v1/timelines/tag/FediVerse"))
    assert tagged == [reply["id"], thread["id"], first["id"]]
    assert ids(posts.anonymous.get("/api/v1/timelines/tag/nothing")) == []


def test_account_statuses_filters(posts):
    alice, bob = posts.register("alice"), posts.register("bob")
    root = posts.as_(alice).status("root #cats")
    own_reply = posts.as_(alice).status("me again", in_reply_to_id=root["id"])
    other = posts.as_(bob).status("bob")
    reply_to_bob = posts.as_(alice).status("@bob hi #Cats", in_reply_to_id=other["id"])
    dm = posts.as_(alice).status("@bob dm", visibility="direct")
    path = f"/api/v1/accounts/{alice.id}/statuses"
    assert ids(posts.anonymous.get(path)) == [reply_to_bob["id"], own_reply["id"], root["id"]]
    assert ids(posts.as_(alice).get(path))[0] == dm["id"]
    assert ids(posts.as_(alice).get(path + "?exclude_direct=true"))[0] == reply_to_bob["id"]
    assert ids(posts.anonymous.get(path + "?exclude_replies=true")) == [own_reply["id"], root["id"]]
    assert ids(posts.anonymous.get(path + "?tagged=cats")) == [reply_to_bob["id"], root["id"]]
    assert ids(posts.anonymous.get(path + "?only_media=true")) == []
    assert ids(posts.anonymous.get(path + "?pinned=true")) == []
    assert posts.anonymous.get("/api/v1/accounts/999/statuses").status_code == 404
    assert posts.anonymous.get("/api/v1/accounts/nope/statuses").status_code == 404


def test_paging_with_cursors_and_link_headers(posts):
    alice, reader = posts.register("alice"), posts.register("reader")
    posts.follow(reader, alice)
    made = [posts.as_(alice).status(f"post {i}")["id"] for i in range(7)]
    newest_first = list(reversed(made))
    for path, caller in (
        ("/api/v1/timelines/home", posts.as_(reader)),
        ("/api/v1/timelines/public", posts.anonymous),
        (f"/api/v1/accounts/{alice.id}/statuses", posts.anonymous),
    ):
        first = caller.get(f"{path}?limit=3")
        assert ids(first) == newest_first[:3], path
        nav = links(first)
        assert nav["next"] == {"limit": "3", "max_id": newest_first[2], "path": path}
        assert nav["prev"] == {"limit": "3", "min_id": newest_first[0], "path": path}
        second = caller.get(f"{path}?limit=3&max_id={nav['next']['max_id']}")
        assert ids(second) == newest_first[3:6]
        last = caller.get(f"{path}?limit=3&max_id={newest_first[5]}")
        assert ids(last) == newest_first[6:] and "next" not in links(last)
        # min_id: the page just newer than it, newest first; since_id: the newest, down to it.
        assert ids(caller.get(f"{path}?limit=2&min_id={made[1]}")) == [made[3], made[2]]
        assert ids(caller.get(f"{path}?limit=2&since_id={made[1]}")) == [made[6], made[5]]
        assert (
            ids(caller.get(f"{path}?min_id={made[6]}")) == []
            and "link" not in caller.get(f"{path}?min_id={made[6]}").headers
        )
    assert len(ids(posts.anonymous.get("/api/v1/timelines/public?limit=500"))) == 7  # capped at 40


def test_odd_paging_and_tag_input_is_no_error(posts):
    """Cursors that are not ids are ignored and limits are clamped (1..40); a hashtag with NUL in
    it, which PostgreSQL refuses as a parameter, is no hashtag: an empty page, not a 500."""
    alice = posts.register("alice")
    made = [posts.as_(alice).status(f"post {i} #odd")["id"] for i in range(3)]
    newest_first = list(reversed(made))
    path = "/api/v1/timelines/public"
    for query in ("max_id=abc", "max_id=-1", "since_id=99999999999999999999999", "min_id=1e5", "limit=abc"):
        assert ids(posts.anonymous.get(f"{path}?{query}")) == newest_first, query
    for query, expected in (("limit=0", 1), ("limit=-5", 1), ("limit=99999999999999999999", 3)):
        assert len(ids(posts.anonymous.get(f"{path}?{query}"))) == expected, query
    account = f"/api/v1/accounts/{alice.id}/statuses"
    assert ids(posts.anonymous.get(f"{account}?tagged=%00")) == []
    assert ids(posts.anonymous.get(f"{account}?tagged=od%00d")) == []
    assert ids(posts.anonymous.get(f"{account}?tagged=odd")) == newest_first
    # The tag path itself (the test client can't sign a percent-encoded path; the gateway can).
    with posts.app.state.db.unit_of_work() as session:
        page = Page(None, None, None, 20)
        rows, _ = service.hashtag(session, None, "od\x00d", page, remote=False, only_media=False)
        assert rows == []
        rows, _ = service.hashtag(session, None, "#ODD", page, remote=False, only_media=False)
        assert [str(r.id) for r in rows] == newest_first


def test_a_deleted_post_leaves_no_hole_in_paging(posts):
    alice, reader = posts.register("alice"), posts.register("reader")
    posts.follow(reader, alice)
    made = [posts.as_(alice).status(f"post {i}")["id"] for i in range(4)]
    # A feed row whose status is gone (as after a deleted account): skipped, still paged past.
    with posts.app.state.db.unit_of_work() as session:
        session.execute(text("DELETE FROM statuses WHERE id = :id"), {"id": int(made[2])})
    first = posts.as_(reader).get("/api/v1/timelines/home?limit=2")
    assert ids(first) == [made[3]]
    assert links(first)["next"]["max_id"] == made[2]
    assert ids(posts.as_(reader).get(f"/api/v1/timelines/home?limit=2&max_id={made[2]}")) == [
        made[1],
        made[0],
    ]


def test_a_page_is_one_query_whatever_its_length(posts):
    alice, bob, reader = posts.register("alice"), posts.register("bob"), posts.register("reader")
    posts.follow(reader, alice)
    posts.follow(reader, bob)
    for i in range(12):
        author = alice if i % 2 else bob
        posts.as_(author).status(f"post {i} #counted @reader", visibility="private" if i % 3 else "public")
    posts.as_(reader).post(f"/api/v1/statuses/{posts.as_(alice).status('fav me #counted')['id']}/favourite")
    pages = {
        "home": (posts.as_(reader), "/api/v1/timelines/home"),
        "public": (posts.as_(reader), "/api/v1/timelines/public"),
        "hashtag": (posts.anonymous, "/api/v1/timelines/tag/counted"),
        "account": (posts.as_(reader), f"/api/v1/accounts/{alice.id}/statuses"),
    }
    for name, (caller, path) in pages.items():
        for limit in (2, 10):
            with posts.queries() as statements:
                r = caller.get(f"{path}?limit={limit}")
            assert r.status_code == 200 and len(r.json()) >= 2, (name, r.text)
            assert len(statements) == 1, (name, limit, statements)


# Enough rows for PostgreSQL to plan as it would in production: 2,000 accounts, 200,000 statuses,
# 400,000 home feed rows, 100 hashtags on 100,000 statuses, 100,000 follows and favourites.
AT_SCALE = """
INSERT INTO accounts (id, username, acct, display_name, note, url, avatar, avatar_static, header, locked,
    bot, discoverable, indexable, hide_collections, fields, created_at, version)
SELECT g, 'u' || g, 'u' || g, '', '', 'u', 'a', 'a', 'h', false, false, false, false, false, '[]', now(), 1
FROM generate_series(1, 2000) g;
INSERT INTO statuses (id, account_id, text, content, spoiler_text, sensitive, visibility, language,
    in_reply_to_id, in_reply_to_account_id, mentions, tags, created_at)
SELECT g, 1 + g % 2000, 'x', '<p>x</p>', '', false,
    (ARRAY['public', 'public', 'unlisted', 'private', 'direct'])[1 + g % 5], 'en',
    CASE WHEN g % 4 = 0 THEN g - 1 END, CASE WHEN g % 4 = 0 THEN 1 + (g - 1) % 2000 END, '[]', '[]', now()
FROM generate_series(1, 200000) g;
INSERT INTO home_feed (account_id, status_id, author_id)
SELECT 1 + g % 2000, g / 2 + 1, 1 FROM generate_series(1, 400000) g ON CONFLICT DO NOTHING;
INSERT INTO tags (id, name, created_at) SELECT g, 'tag' || g, now() FROM generate_series(1, 100) g;
INSERT INTO status_tags (tag_id, status_id) SELECT 1 + g % 100, g * 2 FROM generate_series(1, 100000) g;
INSERT INTO follows (account_id, target_account_id, active, changed_at)
SELECT 1 + g % 2000, 1 + (g * 7919) % 2000, true, now() FROM generate_series(1, 100000) g
ON CONFLICT DO NOTHING;
INSERT INTO mentions (status_id, account_id) SELECT g * 3, 1 + g % 2000 FROM generate_series(1, 50000) g;
INSERT INTO favourites (id, account_id, status_id, created_at)
SELECT g, 1 + g % 2000, 1 + (g::bigint * 104729) % 200000, now() FROM generate_series(1, 100000) g
ON CONFLICT DO NOTHING;
ANALYZE;
"""


LARGE_TABLES = ("statuses", "home_feed", "status_tags", "favourites", "follows", "mentions", "accounts")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgres_plans_walk_one_index_at_scale(posts):
    """What makes a page cost the same at any size: each timeline walks one index in cursor order
    and stops after LIMIT rows, whatever the table sizes; nothing is sorted."""
    with posts.app.state.db.engine.begin() as conn:
        conn.execute(text(AT_SCALE))
    reader = 17
    expected_index = {
        "home": ("home_feed_pkey", lambda p: repository.home_query(reader, p)),
        "public": ("ix_statuses_public_timeline", lambda p: repository.public_query(reader, p)),
        "hashtag": ("status_tags_pkey", lambda p: repository.hashtag_query(reader, "tag7", p)),
        "account": (
            "ix_statuses_account_id_id",
            lambda p: repository.account_query(
                reader, 42, p, exclude_replies=False, exclude_direct=False, tagged=None
            ),
        ),
    }
    pages = (Page(None, None, None, 20), Page(150000 << 0, None, None, 20), Page(None, None, 1000, 20))
    with posts.app.state.db.engine.connect() as conn:
        for name, (index, build) in expected_index.items():
            for page in pages:
                sql = str(
                    build(page).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
                )
                plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + sql).scalars())
                assert plan.startswith("Limit"), (name, plan)
                assert "Sort" not in plan, (name, plan)
                # (100 hashtags fit one page: PostgreSQL rightly reads `tags` whole.)
                assert not [t for t in LARGE_TABLES if f"Seq Scan on {t} " in plan], (name, plan)
                assert index in plan, (name, plan)
