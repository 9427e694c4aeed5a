"""English and Spanish: Babel catalogues (`translations/<locale>/LC_MESSAGES/messages.po`, read at
start-up: no compile step), the language a page is shown in, and dates, times and numbers in it.

The language is the account's choice (kept by this service), else the one the browser chose
with the switch (a cookie), else the best match of `Accept-Language`, else English."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

CATALOGUES = Path(__file__).parent / "translations"
# The languages of the interface, each named in itself (what the switch shows).
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT = "en"


def load_catalogue(locale: str) -> Translations:
    """The `.po` file compiled in memory."""
    path = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalogue = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


class Catalogues:
    def __init__(self) -> None:
        self.translations = {code: load_catalogue(code) for code in LANGUAGES}
        self.locales = {code: Locale.parse(code) for code in LANGUAGES}

    def negotiate(self, accept_language: str | None) -> str:
        """The best of our languages for an `Accept-Language` header (quality values honoured)."""
        wanted: list[tuple[float, str]] = []
        for position, part in enumerate((accept_language or "").split(",")):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            if tag and quality > 0:
                wanted.append((-quality + position * 1e-6, tag.replace("_", "-")))
        for _, tag in sorted(wanted):
            primary = tag.split("-")[0].lower()
            if primary in LANGUAGES:
                return primary
        return DEFAULT


def supported(locale: str | None) -> str | None:
    return locale if locale in LANGUAGES else None


_current: ContextVar[str] = ContextVar("locale", default=DEFAULT)
_catalogues: Catalogues | None = None


def install(catalogues: Catalogues) -> None:
    global _catalogues
    _catalogues = catalogues


def _translations() -> Translations:
    assert _catalogues is not None, "i18n.install() first"
    return _catalogues.translations[_current.get()]


@contextmanager
def using(locale: str) -> Iterator[None]:
    token = _current.set(locale if locale in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def set_locale(locale: str) -> None:
    """For the rest of this request (each request runs in its own context)."""
    _current.set(locale if locale in LANGUAGES else DEFAULT)


def current_locale() -> str:
    return _current.get()


def _locale() -> Locale:
    """The page's language as a Babel `Locale`, parsed once (formatting with a string parses it
    on every call, most of the cost of a timeline's dates and numbers)."""
    assert _catalogues is not None, "i18n.install() first"
    return _catalogues.locales[_current.get()]


def gettext(message: str, **variables: object) -> str:
    text = _translations().gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    text = _translations().ngettext(singular, plural, n)
    return text % {"num": n, **variables}


_ = gettext


def plural_forms(singular: str, plural: str) -> dict[str, str]:
    """A plural message's forms in this language, for our script (English and Spanish need two)."""
    translations = _translations()
    return {
        "one": translations.ngettext(singular, plural, 1),
        "other": translations.ngettext(singular, plural, 2),
    }


def script_texts() -> dict[str, object]:
    """What our script says, in the page's language (`%(num)s` is the number)."""
    return _script_texts(current_locale())


@lru_cache(maxsize=8)
def _script_texts(locale: str) -> dict[str, object]:
    return {
        "characters_left": plural_forms("%(num)s character left", "%(num)s characters left"),
        "characters_over": plural_forms("%(num)s character too many", "%(num)s characters too many"),
        "new_posts": plural_forms("Show %(num)s new post", "Show %(num)s new posts"),
        "new_notifications": plural_forms("Show %(num)s new notification", "Show %(num)s new notifications"),
        "just_now": gettext("just now"),
    }


# -- times and numbers ---------------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo:
    """The viewer's time zone (what their browser reported), else UTC."""
    if name:
        try:
            return _zone(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return _zone("UTC")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def relative_time(value: str | datetime | None, now: datetime | None = None) -> str:
    """ "5 minutes ago" / "hace 5 minutos" ("in 2 hours" for the future)."""
    moment = parse_time(value) if isinstance(value, str) or value is None else value
    if moment is None:
        return ""
    delta = moment - (now or datetime.now(UTC))
    if abs(delta) < timedelta(seconds=45):
        return gettext("just now")
    return format_timedelta(delta, add_direction=True, threshold=0.9, locale=_locale())


def absolute_time(value: str | datetime | None, tz: str | None = None, form: str = "medium") -> str:
    moment = parse_time(value) if isinstance(value, str) or value is None else value
    if moment is None:
        return ""
    return format_datetime(moment, format=form, tzinfo=zone(tz), locale=_locale())


def number(value: int | float | None) -> str:
    if isinstance(value, int) and -1000 < value < 1000:
        return str(value)  # no grouping below a thousand, in either language
    return format_decimal(value or 0, locale=_locale())


def language_name(code: str | None) -> str:
    """A language code (ISO 639) as the reader's language calls it: `es` -> "Spanish"/"español"."""
    if not code:
        return ""
    return _language_name(code, current_locale())


@lru_cache(maxsize=1024)
def _language_name(code: str, reader: str) -> str:
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(reader)
    except (UnknownLocaleError, ValueError):
        return code
    return name or code


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# ISO 639-1 codes offered when writing a post (the API accepts these and more).
POST_LANGUAGES = (
    "ar", "ca", "cs", "da", "de", "el", "en", "eo", "es", "eu", "fa", "fi", "fr", "ga", "gl", "he",
    "hi", "hu", "id", "it", "ja", "ko", "nl", "no", "pl", "pt", "ro", "ru", "sv", "th", "tr", "uk",
    "vi", "zh",
)  # fmt: skip
