"""Profile text to safe HTML, as Mastodon renders a bio: the typed text is escaped, URLs become
links, blank lines make paragraphs and single newlines line breaks. Nothing the user typed can
add markup: the result is also passed through an allow-list sanitiser (nh3) as a second guard."""

from __future__ import annotations

import html
import re

import nh3
from linkify_it import LinkifyIt

_linkify = LinkifyIt(options={"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})
_LINK_SCHEMES = ("http:", "https:")
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_ALLOWED_TAGS = {"p", "br", "a"}
_ALLOWED_ATTRIBUTES = {"a": {"href", "target"}}
_LINK_REL = "nofollow noopener noreferrer"


def _linked(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in _linkify.match(text) or []:
        if match.schema.lower() not in _LINK_SCHEMES:
            continue
        out.append(html.escape(text[position : match.index], quote=False))
        out.append(
            f'<a href="{html.escape(match.url)}" target="_blank">{html.escape(match.text, quote=False)}</a>'
        )
        position = match.last_index
    out.append(html.escape(text[position:], quote=False))
    return "".join(out)


def sanitise(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel=_LINK_REL,
    )


def note_html(text: str) -> str:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not normalised:
        return ""
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(normalised) if p.strip()]
    rendered = "".join(
        "<p>" + "<br />".join(_linked(line) for line in p.split("\n")) + "</p>" for p in paragraphs
    )
    return sanitise(rendered)


def field_value_html(value: str) -> str:
    return sanitise(_linked(value.replace("\r", " ").replace("\n", " ")))
