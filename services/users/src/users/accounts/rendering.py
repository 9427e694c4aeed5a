"""Profile text to safe HTML, as Mastodon renders a bio: the typed text is escaped, URLs become
links, blank lines make paragraphs and single newlines line breaks (the shared renderer in
`microblog_common.mastodon.text`, which also sanitises with nh3)."""

from __future__ import annotations

from microblog_common.mastodon.text import linked, paragraphs_html, sanitise

__all__ = ["field_value_html", "note_html", "sanitise"]


def note_html(text: str) -> str:
    return paragraphs_html(text)


def field_value_html(value: str) -> str:
    return sanitise(linked(value.replace("\r", " ").replace("\n", " ")))
