"""The search behaviour suite: the same tests on every index backend (see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .conftest import Search


def test_typos_are_found_and_rank_below_exact_matches(search: Search):
    alice = search.register("alice")
    exact = search.post(alice, "A beautiful morning in the mountains")
    typo = search.post(alice, "A beutiful evening by the sea")
    search.post(alice, "Nothing to see here")
    search.indexed()
    assert search.statuses(alice, q="beautiful") == [exact.id, typo.id]
    assert search.statuses(alice, q="beautiful", fuzzy="false") == [exact.id]
    # Two edits for words of 8+ letters, one for 4+, none below.
    long_word = search.post(alice, "mountainous terrain")
    short = search.post(alice, "the cat sat")
    search.indexed()
    assert long_word.id in search.statuses(alice, q="mountanuos")
    assert short.id not in search.statuses(alice, q="cut")


def test_phrases_and_required_and_excluded_words(search: Search):
    alice = search.register("alice")
    ordered = search.post(alice, "the quick brown fox jumps")
    shuffled = search.post(alice, "brown dogs are quick to bark")
    unrelated = search.post(alice, "a quick lunch")
    search.indexed()
    assert search.statuses(alice, q='"quick brown"') == [ordered.id]
    # A phrase match ranks above the same words apart.
    assert search.statuses(alice, q='quick brown "quick brown"')[0] == ordered.id
    assert set(search.statuses(alice, q="quick +brown")) == {ordered.id, shuffled.id}
    assert set(search.statuses(alice, q="quick -brown")) == {unrelated.id}
    assert set(search.statuses(alice, q='quick -"brown fox"')) == {shuffled.id, unrelated.id}
    assert search.statuses(alice, q="+quick +lunch") == [unrelated.id]


def test_from_operator_and_author_parameters(search: Search):
    alice, bob = search.register("alice"), search.register("bob")
    by_alice = search.post(alice, "gardening tips")
    by_bob = search.post(bob, "gardening tricks")
    search.indexed()
    assert search.statuses(alice, q="gardening from:bob") == [by_bob.id]
    assert search.statuses(alice, q="gardening from:@bob") == [by_bob.id]
    assert search.statuses(alice, q=f"gardening from:@bob@{'social.example'}") == [by_bob.id]
    assert search.statuses(alice, q="gardening from:me") == [by_alice.id]
    assert search.statuses(alice, q="gardening -from:me") == [by_bob.id]
    assert search.statuses(alice, q="gardening from:nobody") == []
    assert search.statuses(None, q="gardening from:me") == []
    assert search.statuses(alice, q="gardening", author="bob") == [by_bob.id]
    assert search.statuses(alice, q="gardening", author=str(alice.id)) == [by_alice.id]
    assert search.statuses(alice, q="gardening", account_id=str(bob.id)) == [by_bob.id]
    assert search.statuses(alice, q="gardening from:alice", account_id=str(bob.id)) == []
    # Operators alone: newest first.
    assert search.statuses(alice, q="from:bob") == [by_bob.id]


def test_language_operator_and_parameter(search: Search):
    alice = search.register("alice")
    english = search.post(alice, "hello world", language="en")
    french = search.post(alice, "bonjour le world", language="fr")
    search.indexed()
    assert search.statuses(alice, q="world language:fr") == [french.id]
    assert search.statuses(alice, q="world -language:fr") == [english.id]
    assert search.statuses(alice, q="world", language="en") == [english.id]
    assert search.statuses(alice, q="world", language="en-GB") == [english.id]


def test_dates_before_after_during_and_since_until(search: Search):
    alice = search.register("alice")
    day = datetime(2026, 3, 10, tzinfo=UTC)
    earlier = search.post(alice, "report one", at=day - timedelta(days=2))
    during = search.post(alice, "report two", at=day + timedelta(hours=12))
    later = search.post(alice, "report three", at=day + timedelta(days=3))
    search.indexed()
    ids = lambda **p: set(search.statuses(alice, q="report", **p))  # noqa: E731
    assert ids() == {earlier.id, during.id, later.id}
    assert set(search.statuses(alice, q="report before:2026-03-10")) == {earlier.id}
    assert set(search.statuses(alice, q="report after:2026-03-10")) == {later.id}
    assert set(search.statuses(alice, q="report during:2026-03-10")) == {during.id}
    assert set(search.statuses(alice, q="report -during:2026-03-10")) == {earlier.id, later.id}
    assert set(search.statuses(alice, q="report -before:2026-03-10")) == {during.id, later.id}
    assert ids(since="2026-03-10") == {during.id, later.id}
    assert ids(until="2026-03-10") == {earlier.id, during.id}
    assert ids(since="2026-03-10", until="2026-03-10") == {during.id}
    assert ids(since="2026-03-10T13:00:00Z") == {later.id}
    # A date the parser can't read is words like any other.
    assert search.statuses(alice, q="before:someday") == []
    assert len(search.statuses(alice, q="report before:someday")) == 3


def test_is_and_has_operators(search: Search):
    alice, bob = search.register("alice"), search.register("bob")
    root = search.post(alice, "cooking pasta tonight")
    reply = search.post(bob, "cooking pasta is fun", reply_to=root)
    sensitive = search.post(alice, "cooking spicy pasta", spoiler_text="food")
    linked = search.post(alice, "cooking pasta recipe https://example.com/pasta")
    search.indexed()
    q = "cooking pasta"
    assert search.statuses(alice, q=f"{q} is:reply") == [reply.id]
    assert reply.id not in search.statuses(alice, q=f"{q} -is:reply")
    assert search.statuses(alice, q=f"{q} is:sensitive") == [sensitive.id]
    assert sensitive.id not in search.statuses(alice, q=f"{q} -is:sensitive")
    assert search.statuses(alice, q=f"{q} has:link") == [linked.id]
    assert set(search.statuses(alice, q=f"{q} -has:link")) == {root.id, reply.id, sensitive.id}
    # No status here has media or a poll.
    assert search.statuses(alice, q=f"{q} has:media") == []
    assert len(search.statuses(alice, q=f"{q} -has:poll")) == 4
    # The content warning is searched too.
    assert search.statuses(alice, q="food") == [sensitive.id]


def test_in_library_is_what_i_wrote_favourited_or_was_mentioned_in(search: Search):
    alice, bob, carol = search.register("alice"), search.register("bob"), search.register("carol")
    mine = search.post(alice, "library books one")
    favourited = search.post(bob, "library books two")
    mentioning = search.post(carol, "library books three @alice", mentions=(alice,))
    other = search.post(carol, "library books four")
    search.favourite(alice, favourited)
    search.indexed()
    assert set(search.statuses(alice, q="library in:library")) == {mine.id, favourited.id, mentioning.id}
    assert set(search.statuses(alice, q="library")) == {mine.id, favourited.id, mentioning.id, other.id}
    assert search.statuses(None, q="library in:library") == []
    search.favourite(alice, favourited, undo=True)
    search.indexed()
    assert set(search.statuses(alice, q="library in:library")) == {mine.id, mentioning.id}


def test_edited_status_is_found_by_its_new_words_and_deleted_one_is_gone(search: Search):
    alice = search.register("alice")
    post = search.post(alice, "original wording here")
    search.indexed()
    assert search.statuses(alice, q="original") == [post.id]
    search.edit(post, "completely rewritten text")
    search.indexed()
    assert search.statuses(alice, q="original") == []
    assert search.statuses(alice, q="rewritten") == [post.id]
    found = search.search(alice, q="rewritten", type="statuses")["statuses"][0]
    assert found["edited_at"] is not None and "rewritten" in found["content"]
    search.delete(post)
    search.indexed()
    assert search.statuses(alice, q="rewritten") == []
    # A late, older edit changes nothing (the shared version rule drops it).
    search.deliver("post.updated", post.data | {"version": 2, "text": "zombie"}, post.id, 2)
    search.indexed()
    assert search.statuses(alice, q="zombie") == [] and search.statuses(alice, q="rewritten") == []


def test_private_and_direct_statuses_never_reach_anyone_who_may_not_see_them(search: Search):
    alice, bob, carol = search.register("alice"), search.register("bob"), search.register("carol")
    search.follow(bob, alice)  # a follower still doesn't find followers-only posts by search
    public = search.post(alice, "secret plans public")
    unlisted = search.post(alice, "secret plans unlisted", visibility="unlisted")
    private = search.post(alice, "secret plans private", visibility="private")
    direct = search.post(alice, "secret plans direct @carol", visibility="direct", mentions=(carol,))
    search.indexed()
    assert set(search.statuses(alice, q="secret plans")) == {public.id, unlisted.id, private.id, direct.id}
    assert set(search.statuses(bob, q="secret plans")) == {public.id, unlisted.id}
    assert set(search.statuses(carol, q="secret plans")) == {public.id, unlisted.id, direct.id}
    assert set(search.statuses(None, q="secret plans")) == {public.id}
    for viewer in (bob, None):
        for q in ("private", "direct", "secret plans in:library", "from:alice", "secret is:sensitive"):
            found = search.search(viewer, q=q)
            assert {s["id"] for s in found["statuses"]} <= {str(public.id), str(unlisted.id)}, q
    # Nor through its URL.
    url = private.data["url"]
    assert search.search(bob, q=url, resolve="true")["statuses"] == []
    assert [s["id"] for s in search.search(alice, q=url, resolve="true")["statuses"]] == [str(private.id)]


def test_paging_without_duplicates_or_gaps(search: Search):
    alice = search.register("alice")
    posts = [search.post(alice, f"weather report number {i} " + "sunny " * (i % 5)) for i in range(23)]
    search.indexed()
    everything = {p.id for p in posts}
    # Relevance, by offset.
    seen: list[int] = []
    for offset in range(0, 30, 10):
        seen += search.statuses(alice, q="weather sunny", limit=10, offset=offset)
    assert len(seen) == len(set(seen)) == 23 and set(seen) == everything
    # Newest first, by max_id, and back by min_id.
    pages, max_id = [], None
    while True:
        params = {"q": "weather", "sort": "latest", "limit": 10} | ({"max_id": max_id} if max_id else {})
        page = search.statuses(alice, **params)
        if not page:
            break
        pages.append(page)
        max_id = page[-1]
    flat = [i for page in pages for i in page]
    assert flat == sorted(everything, reverse=True)
    assert search.statuses(alice, q="weather", sort="latest", limit=10, min_id=pages[1][0]) == pages[0]
    # Anonymous callers get no offset paging, as on Mastodon.
    error = search.search(None, expect=401, q="weather", offset=10)
    assert error["error"] == "Search queries pagination is not supported without authentication"


def test_highlights_mark_the_matched_words(search: Search):
    alice = search.register("alice")
    search.post(alice, "Breakfast <b>ideas</b> for busy mornings")
    search.indexed()
    (found,) = search.search(alice, q="breakfast mornings", type="statuses")["statuses"]
    assert "<mark>Breakfast</mark>" in found["highlight"] and "<mark>mornings</mark>" in found["highlight"]
    assert "<b>" not in found["highlight"]  # the text is escaped; only the marks are markup


def test_accounts_by_name_as_you_type_followed_first(search: Search):
    viewer = search.register("viewer")
    alex = search.register("alexander", "Alex the Great")
    alexis = search.register("alexis", "Alexis Smith")
    search.register("bob", "Bob Alexandrov")
    search.follow(viewer, alexis)
    search.indexed()
    assert search.accounts(viewer, q="alex")[0] == "alexis"  # followed first
    assert set(search.accounts(viewer, q="alex")) >= {"alexander", "alexis", "bob"}
    assert search.accounts(viewer, q="alexander")[0] == "alexander"  # an exact username first
    assert search.accounts(viewer, q="@alexander")[0] == "alexander"
    assert search.accounts(viewer, q="alexander@social.example")[0] == "alexander"
    assert search.accounts(viewer, q="alexander@elsewhere.example") == []
    assert search.accounts(viewer, q="alex", following="true") == ["alexis"]
    assert search.accounts(viewer, q="the great") == ["alexander"]
    assert search.accounts(viewer, q="alexsander")[0] == "alexander"  # a typo
    # A new display name reaches the account's document.
    search.rename(alex, "Sasha")
    search.indexed()
    assert search.accounts(viewer, q="sasha") == ["alexander"]
    assert search.accounts(viewer, q="the great") == []
    (account,) = search.search(viewer, q="sasha", type="accounts")["accounts"]
    assert account["display_name"] == "Sasha" and account["acct"] == "alexander"
    assert account["followers_count"] == 0
    assert search.search(viewer, q="alexis", type="accounts")["accounts"][0]["followers_count"] == 1
    # The v1 endpoint, as Mastodon.py's account_search calls it.
    v1 = search.client.get(
        "/api/v1/accounts/search", params={"q": "alex", "following": "true"}, user_id=viewer.id
    )
    assert v1.status_code == 200 and [a["username"] for a in v1.json()] == ["alexis"]
    assert search.client.get("/api/v1/accounts/search", params={"q": "alex"}).status_code == 401


def test_hashtags_by_prefix_with_a_week_of_uses(search: Search):
    alice, bob = search.register("alice"), search.register("bob")
    search.post(alice, "#python rocks", tags=("python",))
    search.post(bob, "#python again", tags=("python",))
    search.post(bob, "#pythonic code", tags=("pythonic",))
    search.post(bob, "hidden #pythonista", tags=("pythonista",), visibility="private")
    search.indexed()
    tags = search.search(alice, q="#pyth", type="hashtags")["hashtags"]
    assert [t["name"] for t in tags] == ["python", "pythonic"]
    python = tags[0]
    assert python["url"] == "http://social.example/tags/python"
    assert len(python["history"]) == 7
    assert python["history"][0]["uses"] == "2" and python["history"][0]["accounts"] == "2"


def test_urls_and_names_resolve_to_what_they_name(search: Search):
    alice, bob = search.register("alice"), search.register("bob")
    post = search.post(alice, "look at this")
    search.indexed()
    by_url = search.search(bob, q=post.data["url"], resolve="true")
    assert [s["id"] for s in by_url["statuses"]] == [str(post.id)] and by_url["accounts"] == []
    by_uri = search.search(bob, q=post.data["uri"])
    assert [s["id"] for s in by_uri["statuses"]] == [str(post.id)]
    profile = search.search(bob, q="http://social.example/@alice", resolve="true")
    assert [a["id"] for a in profile["accounts"]] == [str(alice.id)]
    assert search.search(bob, q="https://elsewhere.example/@alice") == {
        "accounts": [],
        "statuses": [],
        "hashtags": [],
    }
    # toot resolves names through type=accounts&resolve=true: the account whose acct is the name.
    toot = search.search(bob, q="@alice", type="accounts", resolve="true")
    assert toot["accounts"][0]["acct"] == "alice"


def test_bad_parameters_are_422_and_no_query_is_a_500(search: Search):
    alice = search.register("alice")
    search.post(alice, "something")
    search.indexed()
    for params in (
        {"q": "x", "type": "people"}, {"q": "x", "limit": "ten"}, {"q": "x", "offset": "-1"},
        {"q": "x", "limit": "0"}, {"q": "x", "sort": "oldest"}, {"q": "x", "fuzzy": "maybe"},
        {"q": "x", "since": "yesterday"}, {"q": "x", "max_id": "abc"}, {"q": "x", "language": "english!"},
        {"q": "a\x00b"}, {"q": "a\x07b"}, {"q": "x" * 1001}, {"q": "x", "resolve": "perhaps"},
    ):  # fmt: skip
        body = search.search(alice, expect=422, **params)
        assert body["error"].startswith("Validation failed") and body["details"], params
    assert "q" in search.search(alice, expect=400)["error"]
    # Bytes that are no UTF-8 (a lone surrogate's encoding) are never a 500.
    assert search.client.get("/api/v2/search?q=%ED%A0%80", user_id=alice.id).status_code < 500
    assert search.search(alice, q="x", limit="500")  # clamped to 40, as Mastodon
    for q in (
        '"',
        '""',
        "+",
        "-",
        "from:",
        ":",
        'from:"',
        "((",
        "*",
        '-"a',
        "in:",
        "has:",
        "a:b:c",
        "language:",
        "+-+-",
        "日本語のテキスト",
        "émoji 🎉",
        "before:2026-13-45",
        "@",
        "#",
        "@@a",
    ):
        search.search(alice, q=q)
        search.search(None, q=q)


def test_a_rebuild_under_load_loses_no_search_result(tmp_path, index_settings):
    from search.rebuild import request_generation

    from .conftest import start

    # Small build steps, so the build takes many of them while statuses keep arriving.
    with start(f"sqlite:///{tmp_path / 'rebuild.db'}", index_settings, rebuild_batch_size=3) as search:
        alice = search.register("alice")
        before = [search.post(alice, f"harvest moon {i}") for i in range(12)]
        search.indexed()
        (old,) = [name for name, state in search.generations() if state == "current"]
        generation = request_generation(search.app.state.db)
        during = []
        seen_building = False
        for i in range(12):
            during.append(search.post(alice, f"harvest moon late {i}"))
            found = set(search.statuses(alice, q="harvest", limit=40))
            # Never an empty or half index: what was searchable before still is.
            assert {p.id for p in before} <= found
            seen_building |= any(state == "building" for _, state in search.generations())
        search.indexed(timeout=30)
        states = dict(search.generations())
        assert states[generation.name] == "current" and states[old] == "retired"
        assert seen_building  # the checks above ran while the new generation was being built
        assert set(search.statuses(alice, q="harvest", limit=40)) == {p.id for p in before + during}
        assert search.accounts(alice, q="alice") == ["alice"]
