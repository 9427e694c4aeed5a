"""The words of the emails in each language they are written in. English is the source; a message
missing in another language falls back to it. Used through Jinja2's i18n extension (`_()`,
`ngettext()` in the templates) and for the subjects."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LANGUAGE = "en"

# msgid -> translation; plurals: (singular, plural) -> (singular, plural).
_ES: dict[str, str] = {
    "Hi @%(username)s,": "Hola, @%(username)s:",
    "%(name)s followed you": "%(name)s te ha seguido",
    "%(count)s people followed you": "%(count)s personas te han seguido",
    "%(name)s mentioned you": "%(name)s te ha mencionado",
    "You have %(count)s new mentions": "Tienes %(count)s menciones nuevas",
    "%(name)s favourited your post": "A %(name)s le ha gustado tu publicación",
    "Your posts got %(count)s new favourites": "Tus publicaciones tienen %(count)s me gusta nuevos",
    "You have a new follower on %(instance)s:": "Tienes un seguidor nuevo en %(instance)s:",
    "These people followed you on %(instance)s:": "Estas personas te han seguido en %(instance)s:",
    "You were mentioned on %(instance)s:": "Te han mencionado en %(instance)s:",
    "Your posts were favourited on %(instance)s:": "Han marcado como favoritas tus publicaciones en %(instance)s:",  # noqa: E501
    "View profile": "Ver perfil",
    "View post": "Ver publicación",
    "favourited": "marcó como favorita",
    "Reset your password on %(instance)s": "Restablece tu contraseña en %(instance)s",
    "Someone asked to reset the password of your account on %(instance)s.": "Alguien ha pedido restablecer la contraseña de tu cuenta en %(instance)s.",  # noqa: E501
    "Reset my password": "Restablecer mi contraseña",
    "This link works once and expires at %(expires)s (UTC). If you did not ask for it, ignore this email: your password stays as it is.": "Este enlace funciona una sola vez y caduca el %(expires)s (UTC). Si no lo has pedido tú, ignora este correo: tu contraseña no cambia.",  # noqa: E501
    "Welcome to %(instance)s, @%(username)s!": "¡Te damos la bienvenida a %(instance)s, @%(username)s!",
    "Your account is ready. Follow people, post, and we will let you know when someone follows or mentions you.": "Tu cuenta está lista. Sigue a otras personas, publica, y te avisaremos cuando alguien te siga o te mencione.",  # noqa: E501
    "Open %(instance)s": "Abrir %(instance)s",
    "You get this email because of your notification settings on %(instance)s.": "Recibes este correo por tu configuración de notificaciones en %(instance)s.",  # noqa: E501
    "Unsubscribe from these emails": "Darse de baja de estos correos",
}

CATALOGS: dict[str, dict[str, str]] = {"es": _ES}
LANGUAGES = (DEFAULT_LANGUAGE, *CATALOGS)


def language_of(locale: str | None) -> str:
    """`es-MX`, `es_ES` -> `es`; a language without a catalog -> English."""
    language = (locale or "").replace("_", "-").split("-")[0].lower()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Translations:
    """What Jinja2's i18n extension calls (`install_gettext_callables`)."""

    language: str

    def gettext(self, message: str) -> str:
        return CATALOGS.get(self.language, {}).get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        # English and Spanish share the rule: one is singular, anything else plural.
        return self.gettext(singular if n == 1 else plural)
