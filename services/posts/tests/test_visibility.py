"""Who sees what: the four visibilities against the author, a follower, a mentioned account, a
stranger and an anonymous caller, on every read path (the status, several by id, its history, its
source, its context, the home, public, hashtag and account timelines, favourites and replies) and
in the counts."""

from __future__ import annotations

VISIBILITIES = ("public", "unlisted", "private", "direct")
VIEWERS = ("author", "follower", "mentioned", "stranger", "anonymous")

# Mastodon's StatusPolicy: may this viewer see a status of this visibility at all?
SEES = {
    "public": set(VIEWERS),
    "unlisted": set(VIEWERS),
    "private": {"author", "follower", "mentioned"},
    "direct": {"author", "mentioned"},
}
# The home timeline: your own posts and those of whom you follow (direct only if it mentions you).
IN_HOME = {
    "author": set(VISIBILITIES),
    "follower": {"public", "unlisted", "private"},
    "mentioned": set(),  # does not follow the author
    "stranger": set(),
}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()]


def test_visibility_matrix(posts):
    author = posts.register("author")
    people = {
        "author": author,
        "follower": posts.register("follower"),
        "mentioned": posts.register("mentioned"),
        "stranger": posts.register("stranger"),
    }
    posts.follow(people["follower"], author)
    callers = {name: posts.as_(user) for name, user in people.items()} | {"anonymous": posts.anonymous}
    me = callers["author"]
    root = me.status("a public thread #matrix")
    top = {v: me.status(f"@mentioned {v} post #matrix", visibility=v)["id"] for v in VISIBILITIES}
    reply = {
        v: me.status(f"@mentioned {v} reply #matrix", visibility=v, in_reply_to_id=root["id"])["id"]
        for v in VISIBILITIES
    }

    for viewer, caller in callers.items():
        signed_in = viewer != "anonymous"
        visible = {v for v in VISIBILITIES if viewer in SEES[v]}
        for v in VISIBILITIES:
            expected = 200 if v in visible else 404
            paths = [f"/api/v1/statuses/{top[v]}{end}" for end in ("", "/history", "/source", "/context",
                                                                     "/favourited_by")]  # fmt: skip
            for path in (*paths, f"/api/v1/statuses/{reply[v]}"):
                assert caller.get(path).status_code == expected, (viewer, v, path)
        several = "&".join(f"id[]={i}" for i in (*top.values(), *reply.values()))
        assert set(ids(caller.get(f"/api/v1/statuses?{several}"))) == {
            s for v in visible for s in (top[v], reply[v])
        }, viewer

        context = caller.get(f"/api/v1/statuses/{root['id']}/context").json()
        assert {s["id"] for s in context["descendants"]} == {reply[v] for v in visible}, viewer
        assert set(ids(caller.get(f"/api/v1/accounts/{author.id}/statuses"))) == {
            s for v in visible for s in (top[v], reply[v])
        } | {root["id"]}, viewer
        assert set(ids(caller.get("/api/v1/timelines/public"))) >= {top["public"], root["id"]}
        assert not set(ids(caller.get("/api/v1/timelines/public"))) & {top[v] for v in VISIBILITIES[1:]}
        assert set(ids(caller.get("/api/v1/timelines/tag/matrix"))) == {
            top["public"],
            reply["public"],
            root["id"],
        }
        if signed_in:
            home = set(ids(caller.get("/api/v1/timelines/home")))
            assert home & set(top.values()) == {top[v] for v in IN_HOME[viewer]}, viewer
        else:
            assert caller.get("/api/v1/timelines/home").status_code == 401

    # Counts only count what everyone may see: replies and statuses, not direct (Mastodon).
    shown = posts.anonymous.get(f"/api/v1/statuses/{root['id']}").json()
    assert shown["replies_count"] == 2  # the public and unlisted replies
    assert shown["account"]["statuses_count"] == 1 + 3 + 3

    # Writes that need to see the status: favouriting it, replying to it.
    for viewer, caller in callers.items():
        if viewer == "anonymous":
            continue
        for v in VISIBILITIES:
            expected = 200 if viewer in SEES[v] else 404
            fav = caller.post(f"/api/v1/statuses/{top[v]}/favourite")
            assert fav.status_code == expected, (viewer, v, "favourite")
            answer = caller.post("/api/v1/statuses", json={"status": "re", "in_reply_to_id": top[v]})
            assert answer.status_code == expected, (viewer, v, "reply")
    favourited = callers["author"].get(f"/api/v1/statuses/{top['direct']}").json()
    assert favourited["favourites_count"] == 2  # the author and the mentioned account
