"""A post's text: its length as Mastodon counts it, the @mentions and #hashtags in it, and its HTML.

Mentions and hashtags follow Mastodon's patterns: `@name` or `@name@domain` not preceded by a word
character, `=` or `/` (so e-mail addresses and URL paths are not mentions), and `#tag` with at least
one letter. Only mentions of accounts known here (local accounts) become links."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import regex

from microblog_common.mastodon.text import Matcher, Span, links, paragraphs_html

MENTION = re.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@((?:[\w-]+\.)+[\w-]+))?", re.I)
HASHTAG = re.compile(r"(?<![=/)\w])#(\w*[^\W\d_]\w*)")
MAX_TAG_LENGTH = 255
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class MentionedAccount:
    id: int
    username: str
    url: str


def length(text: str, spoiler_text: str, characters_per_url: int) -> int:
    """Mastodon's count: the content warning plus the text, in grapheme clusters, with every URL
    counting `characters_per_url` and a remote mention only its `@name` part."""
    replacements = [(link.start, link.end, "x" * characters_per_url) for link in links(text)]
    for match in MENTION.finditer(text):
        if match.group(2) and all(match.end() <= s or match.start() >= e for s, e, _ in replacements):
            replacements.append((match.start(), match.end(), "@" + match.group(1)))
    countable, position = [], 0
    for start, end, replacement in sorted(replacements):
        countable.append(text[position:start])
        countable.append(replacement)
        position = end
    countable.append(text[position:])
    return len(_GRAPHEME.findall(spoiler_text + "".join(countable)))


def _is_local(domain: str | None, host: str) -> bool:
    return domain is None or domain.lower() in (host, host.split(":", 1)[0])


def _outside_links(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Matches that are not part of a URL (as rendering links them, a URL's `#fragment` is no tag)."""
    spans = [(link.start, link.end) for link in links(text)]
    return [m for m in pattern.finditer(text) if all(m.end() <= s or m.start() >= e for s, e in spans)]


def mentioned_usernames(text: str, host: str) -> list[str]:
    """Lower-cased usernames of the local accounts `text` mentions, first mention first."""
    seen: dict[str, None] = {}
    for match in _outside_links(MENTION, text):
        if _is_local(match.group(2), host):
            seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def hashtags(text: str) -> list[str]:
    """Lower-cased hashtag names, first use first."""
    seen: dict[str, None] = {}
    for match in _outside_links(HASHTAG, text):
        name = match.group(1).lower()
        if len(name) <= MAX_TAG_LENGTH:
            seen.setdefault(name, None)
    return list(seen)


def _mention_matcher(accounts: Mapping[str, MentionedAccount], host: str) -> Matcher:
    def match(line: str) -> Iterable[Span]:
        for m in MENTION.finditer(line):
            account = accounts.get(m.group(1).lower()) if _is_local(m.group(2), host) else None
            if account is not None:
                url, name = html.escape(account.url), html.escape(account.username)
                yield Span(
                    m.start(),
                    m.end(),
                    f'<span class="h-card"><a href="{url}" class="u-url mention">'
                    f"@<span>{name}</span></a></span>",
                )

    return match


def _hashtag_matcher(tag_url: Callable[[str], str]) -> Matcher:
    def match(line: str) -> Iterable[Span]:
        for m in HASHTAG.finditer(line):
            name = m.group(1)
            if len(name) <= MAX_TAG_LENGTH:
                yield Span(
                    m.start(),
                    m.end(),
                    f'<a href="{html.escape(tag_url(name.lower()))}" class="mention hashtag">'
                    f"#<span>{html.escape(name, quote=False)}</span></a>",
                )

    return match


def content_html(
    text: str, accounts: Mapping[str, MentionedAccount], host: str, tag_url: Callable[[str], str]
) -> str:
    """The HTML of a post: paragraphs, line breaks, links, linked mentions and hashtags."""
    return paragraphs_html(text, (_mention_matcher(accounts, host), _hashtag_matcher(tag_url)))
