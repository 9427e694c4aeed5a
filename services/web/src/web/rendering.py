"""What templates apply to the API's data: its HTML made safe to show, and which posts get a
Translate button. Registered on the template environment (`runtime.build_templates`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import nh3
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

# What a status's content (and a bio, a highlight) may contain once shown: Mastodon's own
# output. The API sanitises it already; cleaning it again here means a mistake there can't become
# a script here.
_TAGS = {
    "p", "br", "a", "span", "mark", "del", "pre", "code", "em", "strong", "b", "i", "u", "ul", "ol", "li",
    "blockquote",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "class", "title", "translate"}, "span": {"class", "translate"}}


def api_html(html: str | None) -> Markup:
    """HTML that came from the API (a status's content, a bio, a search highlight): cleaned, then
    marked safe. Nothing a person typed is ever marked safe without passing through here."""
    return _cleaned(html or "")


# The same posts are shown again and again (timelines, threads): each is cleaned once per process.
@lru_cache(maxsize=4096)
def _cleaned(html: str) -> Markup:
    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(cleaned)  # noqa: S704 - cleaned by nh3 with the allow-list above


def translatable(status: dict[str, Any], locale: str, enabled: bool) -> bool:
    """Mastodon's rule: a public or unlisted post in a language that is not the reader's."""
    language = (status.get("language") or "").split("-")[0].lower()
    return (
        enabled
        and bool(language)
        and language != locale
        and status.get("visibility") in ("public", "unlisted")
        and bool(status.get("content"))
    )


@pass_context
def can_translate(context: Context, status: dict[str, Any]) -> bool:
    return translatable(status, str(context.get("locale") or ""), bool(context.get("translation_enabled")))
