"""Emails as people read them: HTML and plain text from Jinja2 templates (`templates/`), in the
account's language (`catalog.py`), with the instance's name; activity emails carry a one-click
unsubscribe link in the body and in the `List-Unsubscribe` / `List-Unsubscribe-Post` headers
(RFC 8058)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from microblog_common.contracts.posts import StatusSnapshot
from microblog_common.contracts.users import AccountSnapshot
from microblog_common.mastodon.text import sanitise
from microblog_common.urls import PublicUrls
from notify.email.backends import OutgoingEmail
from notify.email.catalog import LANGUAGES, Translations, language_of

UNSUBSCRIBE_PATH = "/unsubscribe"
EXCERPT_LENGTH = 80
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Item:
    """One notification in an activity email."""

    name: str
    acct: str
    url: str
    html: str = ""
    text: str = ""
    excerpt: str = ""


def item_for(kind: str, sender: AccountSnapshot, status: StatusSnapshot | None) -> Item:
    name = sender.display_name or sender.username
    if status is None:
        return Item(name=name, acct=sender.acct, url=sender.url)
    text = status.text or html.unescape(_TAGS.sub(" ", status.html)).strip()
    excerpt = text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"
    return Item(
        name=name, acct=sender.acct, url=status.url, html=sanitise(status.html), text=text, excerpt=excerpt
    )


def _environment(translations: Translations) -> Environment:
    env = Environment(
        loader=PackageLoader("notify.email", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        translations.gettext, translations.ngettext, newstyle=True
    )
    return env


class Composer:
    def __init__(self, instance: str, urls: PublicUrls, sender: str):
        self.instance = instance
        self.urls = urls
        self.sender = sender
        # One environment per language, each with its translations installed: renders never share state.
        self.envs = {language: _environment(Translations(language)) for language in LANGUAGES}
        self.host = urlsplit(urls.base).hostname or "localhost"

    def unsubscribe_url(self, token: str, kind: str) -> str:
        return self.urls(UNSUBSCRIBE_PATH) + "?" + urlencode({"token": token, "type": kind})

    def compose(
        self,
        *,
        email_id: int,
        kind: str,
        to: str,
        locale: str,
        username: str,
        items: list[Item] | None = None,
        unsubscribe_token: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> OutgoingEmail:
        language = language_of(locale)
        translations = Translations(language)
        data = data or {}
        items = items or []
        subject = self._subject(kind, translations, username, items)
        unsubscribe = self.unsubscribe_url(unsubscribe_token, kind) if unsubscribe_token else None
        context: dict[str, Any] = {
            "language": language,
            "instance": self.instance,
            "home_url": self.urls.base + "/",
            "subject": subject,
            "username": username,
            "items": items,
            "unsubscribe_url": unsubscribe,
        }
        links: list[str] = [item.url for item in items]
        if kind == "password_reset":
            expires = datetime.fromisoformat(data["expires_at"]).strftime("%Y-%m-%d %H:%M")
            context |= {"reset_url": data["reset_url"], "expires": expires}
            links.append(data["reset_url"])
        headers: dict[str, str] = {"Auto-Submitted": "auto-generated", "Content-Language": language}
        if unsubscribe:
            headers["List-Unsubscribe"] = f"<{unsubscribe}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            links.append(unsubscribe)
        env = self.envs[language]
        text = env.get_template(f"{kind}.txt").render(context)
        body = env.get_template(f"{kind}.html").render(context)
        return OutgoingEmail(
            email_id=email_id,
            kind=kind,
            sender=self.sender,
            to=to,
            subject=subject,
            text=text,
            html=body,
            headers=headers,
            # The same for every attempt: a mail client can tell a repeat after a crash.
            message_id=f"<{email_id}.{kind}@{self.host}>",
            links=tuple(links),
        )

    def _subject(self, kind: str, t: Translations, username: str, items: list[Item]) -> str:
        n = len(items)
        first = items[0].name if items else ""
        if kind == "follow":
            return t.ngettext("%(name)s followed you", "%(count)s people followed you", n) % {
                "name": first,
                "count": n,
            }
        if kind == "mention":
            return t.ngettext("%(name)s mentioned you", "You have %(count)s new mentions", n) % {
                "name": first,
                "count": n,
            }
        if kind == "favourite":
            return t.ngettext(
                "%(name)s favourited your post", "Your posts got %(count)s new favourites", n
            ) % {
                "name": first,
                "count": n,
            }
        if kind == "password_reset":
            return t.gettext("Reset your password on %(instance)s") % {"instance": self.instance}
        return t.gettext("Welcome to %(instance)s, @%(username)s!") % {
            "instance": self.instance,
            "username": username,
        }
