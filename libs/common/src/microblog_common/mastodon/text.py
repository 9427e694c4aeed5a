"""Text typed by a person to safe HTML, the way Mastodon renders a bio or a post: the text is
escaped, URLs become links, blank lines make paragraphs and single newlines line breaks. A caller
may add matchers for more entities (a post's @mentions and #hashtags). Nothing the person typed can
add markup: the result also goes through an allow-list sanitiser (nh3) as a second guard."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import nh3
from linkify_it import LinkifyIt

# Only links with a scheme, as Mastodon (no "example.com" or bare e-mail addresses).
_linkify = LinkifyIt(options={"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})
_LINK_SCHEMES = ("http:", "https:")
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_ALLOWED_TAGS = {"p", "br", "a", "span"}
_ALLOWED_ATTRIBUTES = {"a": {"href", "target"}}
# The microformat classes Mastodon's clients style mentions and hashtags by; no other class passes.
_ALLOWED_CLASSES = {"a": {"mention", "hashtag", "u-url"}, "span": {"h-card"}}
LINK_REL = "nofollow noopener noreferrer"


@dataclass(frozen=True)
class Span:
    """A part of the text rendered as `html` instead of escaped text (`end` is exclusive)."""

    start: int
    end: int
    html: str


Matcher = Callable[[str], Iterable[Span]]


@dataclass(frozen=True)
class Link:
    start: int
    end: int
    url: str
    text: str


def links(text: str) -> list[Link]:
    """The http(s) URLs in `text`, in order."""
    return [
        Link(m.index, m.last_index, m.url, m.text)
        for m in (_linkify.match(text) or [])
        if m.schema.lower() in _LINK_SCHEMES
    ]


def link_html(url: str, text: str) -> str:
    return f'<a href="{html.escape(url)}" target="_blank">{html.escape(text, quote=False)}</a>'


def _link_spans(text: str) -> list[Span]:
    return [Span(link.start, link.end, link_html(link.url, link.text)) for link in links(text)]


def linked(text: str, matchers: Sequence[Matcher] = ()) -> str:
    """`text` escaped, with its links and whatever `matchers` find rendered. Links win over
    anything a matcher finds inside them (the `#fragment` of a URL is not a hashtag)."""
    taken = _link_spans(text)
    for matcher in matchers:
        for span in matcher(text):
            if all(span.end <= t.start or span.start >= t.end for t in taken):
                taken.append(span)
    out: list[str] = []
    position = 0
    for span in sorted(taken, key=lambda s: s.start):
        out.append(html.escape(text[position : span.start], quote=False))
        out.append(span.html)
        position = span.end
    out.append(html.escape(text[position:], quote=False))
    return "".join(out)


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def paragraphs_html(text: str, matchers: Sequence[Matcher] = ()) -> str:
    """Paragraphs (blank lines) and line breaks (single newlines), sanitised; "" for blank text."""
    normalised = normalise_newlines(text).strip()
    if not normalised:
        return ""
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(normalised) if p.strip()]
    rendered = "".join(
        "<p>" + "<br />".join(linked(line, matchers) for line in p.split("\n")) + "</p>" for p in paragraphs
    )
    return sanitise(rendered)


def sanitise(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        url_schemes={"http", "https"},
        link_rel=LINK_REL,
    )
