"""POST /api/v1/statuses/:id/translate against the Microsoft Translator stand-in, on SQLite and
PostgreSQL: the Translation entity, HTML that survives, the cache (one provider call per text,
whichever status carries it; a new one after an edit; nothing kept of a deleted status), the
source and target languages, who may translate what, and the per-account rate limit."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from devstack.translation_providers import fake_translate
from microblog_common.contracts.posts import POST_UPDATED
from microblog_common.events import Event
from microblog_common.mastodon.text import sanitise
from translate.events import on_status
from translate.replica import repository as replica
from translate.replica.repository import StatusRow

from .conftest import Translate

HTML = (
    '<p>Hello <span class="h-card"><a href="http://social.example/@bob" class="u-url mention">'
    '@<span>bob</span></a></span>, this is my post with a <a href="https://example.com/a?b=1&amp;c=2" '
    'target="_blank" rel="nofollow noopener noreferrer">link</a> and <a href="http://social.example/tags/tea"'
    ' class="mention hashtag" rel="tag">#<span>tea</span></a>.</p><p>Second paragraph &amp; more.</p>'
)
TRANSLATION_FIELDS = {
    "detected_source_language", "language", "provider", "spoiler_text", "content", "poll",
    "media_attachments",
}  # fmt: skip


def test_translation_entity_and_what_the_provider_was_sent(service: Translate):
    alice, bob = service.register("alice"), service.register("bob", locale="de")
    status = service.post(alice, HTML, spoiler_text="Spoilers & <stuff>", mentions=(bob,))

    response = service.translate(status, bob)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == TRANSLATION_FIELDS
    assert body["detected_source_language"] == "en" and body["language"] == "de"
    assert body["provider"] == "Microsoft Translator"
    assert body["poll"] is None and body["media_attachments"] == []
    # Translated as HTML: every tag and attribute (links, mentions, hashtags) came back as sent.
    # What the provider answered, through the same sanitiser as the posts service's HTML.
    assert body["content"] == sanitise(fake_translate(HTML, "de", markup=True))
    assert 'href="https://example.com/a?b=1&amp;c=2"' in body["content"]
    assert 'class="mention hashtag"' in body["content"] and 'class="u-url mention"' in body["content"]
    assert "[de] hELLO" in body["content"] and "sECOND PARAGRAPH &amp; MORE." in body["content"]
    # The content warning is plain text, translated too (its markup-like text stays text).
    assert body["spoiler_text"] == "[de] sPOILERS & <STUFF>"
    for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
        assert name in response.headers

    [sent] = service.provider.translations()
    assert sent.params == {"api-version": ["3.0"], "to": ["de"], "from": ["en"], "textType": ["html"]}
    assert sent.headers["ocp-apim-subscription-key"] == "microsoft-test-key"
    assert sent.headers["ocp-apim-subscription-region"] == "westeurope"
    assert sent.headers["content-type"].startswith("application/json")
    assert sent.headers["x-clienttraceid"]
    # Content and content warning in one request, the content warning escaped as HTML text.
    assert sent.body == [{"Text": HTML}, {"Text": "Spoilers &amp; &lt;stuff&gt;"}]


def test_the_same_text_reaches_the_provider_once_whichever_status_carries_it(service: Translate):
    alice, bob, carol = service.register("alice"), service.register("bob"), service.register("carol")
    first = service.post(alice, "<p>The same words twice</p>")
    second = service.post(carol, "<p>The same words twice</p>")

    one = service.translate(first, bob, data={"lang": "fr"})
    assert one.status_code == 200, one.text
    assert service.provider_calls() == 1
    again = service.translate(first, bob, data={"lang": "fr"})
    other_status = service.translate(second, carol, data={"lang": "fr"})
    assert again.json() == one.json() == other_status.json()
    assert service.provider_calls() == 1  # both from the cache
    # Another target language is another translation.
    assert service.translate(first, bob, data={"lang": "es"}).json()["language"] == "es"
    assert service.provider_calls() == 2


def test_a_cache_hit_opens_no_transaction_and_counts_nothing(service: Translate):
    """A hit reads on the autocommit session and writes nothing (not the rate limit either: only
    translations the provider makes count); a miss counts and caches in transactions."""
    alice, bob = service.register("alice"), service.register("bob")
    status = service.post(alice, "<p>Read me twice</p>")
    engine = service.raw.app.state.db.engine  # the write engine; reads have their own
    begun: list[object] = []

    def record(connection: object) -> None:
        begun.append(connection)

    event.listen(engine, "begin", record)
    try:
        miss = service.translate(status, bob, data={"lang": "fr"})
        assert miss.status_code == 200 and miss.headers["x-ratelimit-remaining"] == "59"
        assert len(begun) == 2  # the count against the rate limit, then the cache write
        begun.clear()
        hit = service.translate(status, bob, data={"lang": "fr"})
        assert hit.status_code == 200 and hit.json() == miss.json()
        assert hit.headers["x-ratelimit-remaining"] == "59"
        assert begun == []
    finally:
        event.remove(engine, "begin", record)
    assert service.provider_calls() == 1


def test_an_edited_status_is_translated_anew_and_a_deleted_one_leaves_nothing(service: Translate):
    alice, bob = service.register("alice"), service.register("bob")
    status = service.post(alice, "<p>Before the edit</p>")
    assert "bEFORE THE EDIT" in service.translate(status, bob, data={"lang": "de"}).json()["content"]
    assert service.cached_for(int(status.id)) == 1

    edited = service.edit(status, "<p>After the edit</p>")
    assert service.cached_for(int(status.id)) == 0  # the edit cleared what the old text had
    after = service.translate(edited, bob, data={"lang": "de"})
    assert "aFTER THE EDIT" in after.json()["content"]
    assert service.provider_calls() == 2

    # The same text again in a newer snapshot (posts publishes an edit, then its detected
    # language; or only the visibility changed): the translation stays, the provider is not asked.
    again = service.edit(edited, edited.html, visibility="unlisted")
    assert service.cached_for(int(status.id)) == 1
    assert service.translate(again, bob, data={"lang": "de"}).status_code == 200
    assert service.provider_calls() == 2

    service.delete(again)
    assert service.cached_for(int(status.id)) == 0
    gone = service.translate(again, bob, data={"lang": "de"})
    assert gone.status_code == 404 and gone.json() == {"error": "Record not found"}


def test_an_edit_landing_between_the_status_read_and_the_cache_read_sends_only_the_new_text(
    service: Translate, monkeypatch: pytest.MonkeyPatch
):
    """A translation reads the status, then its cached texts, in separate statements. An edit
    that lands between them (and forgets the old text's translations) must not send the old text
    to the provider: the request translates what the status says now."""
    alice, bob = service.register("alice"), service.register("bob")
    status = service.post(alice, "<p>Before the edit</p>")
    assert service.translate(status, bob, data={"lang": "de"}).status_code == 200
    edited = service.edited(status, "<p>After the edit</p>")
    read_status = replica.status
    landed: list[bool] = []

    def status_then_an_edit(session: Session, status_id: int) -> StatusRow | None:
        row = read_status(session, status_id)
        if not landed:  # the request's first read; the edit lands right after it, as delivered
            landed.append(True)  # (the handler reads the status too)
            event = Event(type=POST_UPDATED, producer="posts", subject=edited.id, version=edited.version,
                          data=edited.model_dump(mode="json"))  # fmt: skip
            with service.raw.app.state.db.unit_of_work() as writing:
                on_status(writing, event)
        return row

    monkeypatch.setattr(replica, "status", status_then_an_edit)
    after = service.translate(status, bob, data={"lang": "de"})
    assert after.status_code == 200, after.text
    assert "aFTER THE EDIT" in after.json()["content"]
    sent = [r.body for r in service.provider.translations()]
    assert sent == [[{"Text": "<p>Before the edit</p>"}], [{"Text": "<p>After the edit</p>"}]]


def test_a_status_without_language_is_detected_by_the_provider(service: Translate):
    alice, bob = service.register("alice"), service.register("bob")
    status = service.post(alice, "<p>Hola mundo, gracias por todo</p>", language=None)
    body = service.translate(status, bob, data={"lang": "en"}).json()
    assert body["detected_source_language"] == "es" and body["language"] == "en"
    [sent] = service.provider.translations()
    assert "from" not in sent.params  # Microsoft detects when `from` is left out


def test_target_language_lang_then_account_then_accept_language_then_english(service: Translate):
    alice = service.register("alice")
    status = service.post(alice, "<p>Hello world</p>")
    speaks_german = service.register("hans", locale="de")
    writes_french = service.register("marie", locale="de", default_language="fr")
    unknown = service.register("nobody", locale="xx-invalid!")

    assert service.translate(status, speaks_german, data={"lang": "es"}).json()["language"] == "es"
    assert service.translate(status, writes_french).json()["language"] == "fr"
    assert service.translate(status, speaks_german).json()["language"] == "de"
    chosen = service.translate(status, unknown, headers={"Accept-Language": "en;q=0.2, it-CH, es;q=0.9"})
    assert chosen.json()["language"] == "it"  # it-CH is offered as it
    # An app-only token has no account: its request's Accept-Language, else English.
    app_only = service.translate(status, None, token_id="app-token", scopes="read")
    assert app_only.status_code == 422  # English is the status's own language
    assert (
        service.translate(status, None, token_id="app-token", headers={"Accept-Language": "ja"}).json()[
            "language"
        ]
        == "ja"
    )
    # Close variants are matched to what the provider offers.
    assert service.translate(status, speaks_german, data={"lang": "zh-TW"}).json()["language"] == "zh-Hant"
    assert service.translate(status, speaks_german, json={"lang": "pt-BR"}).json()["language"] == "pt"


def test_bad_target_languages_are_a_422_that_reaches_no_provider(service: Translate):
    alice, bob = service.register("alice"), service.register("bob")
    status = service.post(alice, "<p>Hello world</p>")
    own = service.translate(status, bob, data={"lang": "en"})
    assert own.status_code == 422 and "already in" in own.json()["error"]
    assert own.json()["details"]["lang"][0]["error"] == "ERR_INVALID"
    for lang in ("not a language!", "tlh", "x" * 40):
        refused = service.translate(status, bob, data={"lang": lang})
        assert refused.status_code == 422, (lang, refused.text)
        assert refused.json()["error"].startswith("Validation failed")
    assert service.provider_calls() == 0


def test_who_may_translate_what(service: Translate):
    author, follower, mentioned, stranger = (
        service.register(n) for n in ("author", "fan", "friend", "stranger")
    )
    service.follow(follower, author)
    public = service.post(author, "<p>Hello everyone</p>")
    unlisted = service.post(author, "<p>Hello quietly</p>", visibility="unlisted")
    private = service.post(author, "<p>Hello followers</p>", visibility="private", mentions=(mentioned,))
    direct = service.post(author, "<p>Hello friend</p>", visibility="direct", mentions=(mentioned,))
    assert service.scalar("SELECT count(*) FROM follows") == 1

    lang = {"lang": "de"}
    for status in (public, unlisted):
        assert service.translate(status, stranger, data=lang).status_code == 200
    # Private and direct statuses are never translated (as Mastodon): 403 for those who may see
    # them, 404 for everyone else, so their existence doesn't leak.
    for viewer in (author, follower, mentioned):
        refused = service.translate(private, viewer, data=lang)
        assert refused.status_code == 403 and refused.json() == {"error": "This action is not allowed"}
    assert service.translate(private, stranger, data=lang).status_code == 404
    for viewer in (author, mentioned):
        assert service.translate(direct, viewer, data=lang).status_code == 403
    for viewer in (follower, stranger):
        assert service.translate(direct, viewer, data=lang).status_code == 404
    assert service.translate(private, None, token_id="app-token", data=lang).status_code == 404
    # An unfollow takes a follower's sight away.
    service.follow(follower, author, active=False)
    assert service.translate(private, follower, data=lang).status_code == 404
    assert service.provider_calls() == 2  # the public and the unlisted status


def test_tokens_ids_and_unknown_statuses(service: Translate):
    alice, bob = service.register("alice"), service.register("bob")
    status = service.post(alice, "<p>Hello world</p>")
    anonymous = service.client.post(f"/api/v1/statuses/{status.id}/translate", data={"lang": "de"})
    assert anonymous.status_code == 401 and anonymous.json() == {"error": "The access token is invalid"}
    assert service.translate(status, bob, scopes="write").status_code == 403
    assert service.translate(status, bob, scopes="read:statuses", data={"lang": "de"}).status_code == 200
    for unknown in ("123", "not-a-number", "99999999999999999999999"):
        missing = service.translate(unknown, bob, data={"lang": "de"})
        assert missing.status_code == 404 and missing.json() == {"error": "Record not found"}
    assert service.translate(status, bob, json=["not", "an", "object"]).status_code == 400


def test_a_status_not_yet_received_is_a_404_until_it_arrives(service: Translate):
    alice, bob = service.register("alice"), service.register("bob")
    snapshot = service.snapshot(alice, "<p>On its way</p>")
    assert service.translate(snapshot, bob, data={"lang": "de"}).status_code == 404
    service.deliver("post.published", snapshot.model_dump(mode="json"), snapshot.id, 1)
    service.wait_for_status(int(snapshot.id), 1)
    assert service.translate(snapshot, bob, data={"lang": "de"}).status_code == 200


def test_per_account_rate_limit_counts_what_reaches_the_provider(db_url, microsoft, microsoft_url):
    from .conftest import microsoft_settings, started

    with started(db_url, microsoft, **microsoft_settings(microsoft_url), translation_rate_limit=2) as service:
        alice, bob, carol = service.register("alice"), service.register("bob"), service.register("carol")
        statuses = [service.post(alice, f"<p>Post number {i}</p>") for i in range(3)]
        first = service.translate(statuses[0], bob, data={"lang": "de"})
        assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
        assert (
            service.translate(statuses[1], bob, data={"lang": "de"}).headers["x-ratelimit-remaining"] == "0"
        )
        refused = service.translate(statuses[2], bob, data={"lang": "de"})
        assert refused.status_code == 429 and "Too many translations" in refused.json()["error"]
        assert refused.headers["x-ratelimit-remaining"] == "0" and int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-ratelimit-reset"].endswith("Z")
        assert service.provider_calls() == 2
        # Cached translations cost nothing and are still served; other accounts have their own count.
        again = service.translate(statuses[0], bob, data={"lang": "de"})
        assert again.status_code == 200 and again.headers["x-ratelimit-remaining"] == "0"
        assert service.translate(statuses[2], carol, data={"lang": "de"}).status_code == 200

        # A translation the provider failed to make is not counted.
        service.provider.fail_next(503, times=10)
        failed = service.translate(statuses[1], carol, data={"lang": "fr"})
        assert failed.status_code == 503
        service.provider.reset()
        assert (
            service.translate(statuses[1], carol, data={"lang": "fr"}).headers["x-ratelimit-remaining"] == "0"
        )


def test_a_blank_or_overlong_lang_is_no_server_error(service: Translate):
    """Found by the schema fuzzer: a blank `lang` (which counts as none given) used to be a 500."""
    alice, bob = service.register("alice"), service.register("bob", locale="de")
    status = service.post(alice, "<p>Hello</p>")
    blank = service.translate(status, bob, json={"lang": "   "})
    assert blank.status_code == 200 and blank.json()["language"] == "de", blank.text
    long = service.translate(status, bob, json={"lang": "x" * 36})
    assert long.status_code == 422 and set(long.json()["details"]) == {"lang"}, long.text
