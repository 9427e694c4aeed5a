"""Issue 8: a privacy setting is never ignored. Right after `update_credentials` with
`source[privacy]=private`, every status posted without a visibility is private: the posts service
asks the users service for the author's current defaults instead of trusting its replica, which the
`user.updated` event reaches a moment later. The issue's check (8 posts in a row) repeated 50
times, with Mastodon.py, in both run modes. The default language (`source[language]`) is used too."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from mastodon import Mastodon

from tests.e2e.test_mastodon_accounts import SCOPES, _register

ROUNDS = 50
POSTS_PER_ROUND = 8


def test_a_privacy_just_set_is_never_ignored(microblog):
    creds = Mastodon.create_app("e2e-defaults", scopes=SCOPES, redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                                api_base_url=microblog.url)  # fmt: skip
    alice, _ = _register(microblog, creds, "private")
    wrong = []
    for round_ in range(ROUNDS):
        # Back and forth, so every round follows a fresh change the replica has not seen yet.
        alice.account_update_credentials(default_privacy="public")
        alice.account_update_credentials(default_privacy="private")
        for i in range(POSTS_PER_ROUND):
            status = alice.status_post(f"round {round_} post {i}")
            if status.visibility != "private":
                wrong.append((round_, i, status.visibility))
    assert not wrong, f"{len(wrong)} of {ROUNDS * POSTS_PER_ROUND} posts ignored the privacy: {wrong[:10]}"


def test_the_default_language_is_a_posts_language(microblog):
    creds = Mastodon.create_app("e2e-language", scopes=SCOPES, redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                                api_base_url=microblog.url)  # fmt: skip
    bob, _ = _register(microblog, creds, "language")
    bob.account_update_credentials(default_language="de")
    assert bob.account_verify_credentials().source.language == "de"
    # English words, but the author said German is their language and the post names none.
    assert bob.status_post("Hello everyone, this is plainly written in English.").language == "de"
    assert bob.status_post("Hello again.", language="en").language == "en"


CONCURRENT_POSTS = 48  # more than a service's request threads (REQUEST_THREADS, 16 by default)


def test_more_posts_at_once_than_request_threads_all_take_the_defaults(microblog):
    """Each post without a visibility makes posts ask users for the author's defaults from one of
    its request threads. In the embedded mode users answers in the same process: its answer must
    not need one of the request threads every waiting post holds (it would wait for itself until
    the call timed out, and every post would fail with 503)."""
    creds = Mastodon.create_app("e2e-burst", scopes=SCOPES, redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                                api_base_url=microblog.url)  # fmt: skip
    carol, _ = _register(microblog, creds, "burst")
    carol.account_update_credentials(default_privacy="unlisted")
    headers = {"Authorization": f"Bearer {carol.access_token}"}

    def post(i: int) -> tuple[int, str]:
        answer = httpx.post(f"{microblog.url}/api/v1/statuses", headers=headers,
                            data={"status": f"burst {i}"}, timeout=60)  # fmt: skip
        return answer.status_code, answer.json().get("visibility", answer.text[:200])

    with ThreadPoolExecutor(CONCURRENT_POSTS) as pool:
        answers = list(pool.map(post, range(CONCURRENT_POSTS)))
    wrong = [a for a in answers if a != (200, "unlisted")]
    assert not wrong, f"{len(wrong)} of {CONCURRENT_POSTS} posts: {wrong[:5]}"
