"""Pure logic: length counting, mentions, hashtags, content HTML, language codes."""

from __future__ import annotations

from posts.languages import Detector, normalise
from posts.statuses.text import MentionedAccount, content_html, hashtags, length, mentioned_usernames

HOST = "social.example"


def tag_url(name: str) -> str:
    return f"http://{HOST}/tags/{name}"


def test_length_counts_graphemes_urls_and_remote_mentions_as_mastodon():
    assert length("hello", "", 23) == 5
    assert length("see https://example.com/" + "a" * 100, "", 23) == 4 + 23
    assert length("hi @someone@far.away.example", "", 23) == len("hi @someone")
    assert length("👨‍👩‍👧 é", "", 23) == 3  # one family emoji, a space, e + combining accent
    assert length("body", "warning", 23) == 11


def test_mentions_and_hashtags():
    text = "@Alice hi @bob@social.example @carol@elsewhere.org mail@dave.com #One #two #1 a#b #ONE"
    assert mentioned_usernames(text, HOST) == ["alice", "bob"]
    assert hashtags(text) == ["one", "two"]
    assert hashtags("https://example.com/page#anchor and #real") == ["real"]
    assert mentioned_usernames("https://example.com/@alice/1 @bob", HOST) == ["bob"]


def test_content_html_links_only_known_accounts_and_escapes_everything_else():
    accounts = {"alice": MentionedAccount(1, "Alice", "http://social.example/@Alice")}
    html = content_html(
        "<b>@alice</b> @nobody https://x.example/#not-a-tag #yes\r\n\r\n\r\nend", accounts, HOST, tag_url
    )
    assert html.startswith('<p>&lt;b&gt;<span class="h-card"><a href="http://social.example/@Alice"')
    assert "@nobody" in html and 'href="https://x.example/#not-a-tag"' in html
    assert "/tags/not-a-tag" not in html and 'href="http://social.example/tags/yes"' in html
    assert html.endswith("</p><p>end</p>")
    assert content_html("<script>x</script>", {}, HOST, tag_url) == "<p>&lt;script&gt;x&lt;/script&gt;</p>"


def test_language_codes():
    assert normalise("EN") == "en" and normalise("pt-BR") == "pt" and normalise("zh_Hant") == "zh"
    assert normalise("ckb") == "ckb" and normalise("xx") is None and normalise("english") is None


def test_low_accuracy_detector_loads_at_once():
    fast = Detector(("en", "fr"), 0.1, low_accuracy=True)
    assert fast.detect("Bonjour tout le monde, comment allez-vous aujourd'hui ?") == "fr"
    assert fast.detect("   ") is None
