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
