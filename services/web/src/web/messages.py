"""What the API's refusals mean, said to a person in their language: Mastodon's per-field error
codes (`ERR_TAKEN`, ...) become a sentence next to the field they are about; anything without a
code keeps the API's own words."""

from __future__ import annotations

from web.api.client import ApiError
from web.i18n import gettext as _


def field_message(field: str, code: str) -> str:
    messages = {
        ("username", "ERR_TAKEN"): _("This username is taken. Try another one."),
        ("username", "ERR_INVALID"): _("Use only letters, numbers and underscores."),
        ("username", "ERR_BLANK"): _("Choose a username."),
        ("username", "ERR_TOO_LONG"): _("A username has at most 30 characters."),
        ("username", "ERR_RESERVED"): _("This username is reserved. Try another one."),
        ("email", "ERR_TAKEN"): _("There is already an account with this email address."),
        ("email", "ERR_INVALID"): _("This does not look like an email address."),
        ("email", "ERR_BLANK"): _("Enter your email address."),
        ("password", "ERR_TOO_SHORT"): _("Your password needs at least 8 characters."),
        ("password", "ERR_TOO_LONG"): _("Your password is too long."),
        ("password", "ERR_BLANK"): _("Choose a password."),
        ("agreement", "ERR_ACCEPTED"): _("Please accept the rules to create an account."),
        ("status", "ERR_BLANK"): _("Write something first."),
        ("status", "ERR_TOO_LONG"): _("Your post is too long."),
        ("scheduled_at", "ERR_INVALID"): _("Pick a time at least five minutes from now."),
        ("display_name", "ERR_TOO_LONG"): _("The display name is too long."),
        ("note", "ERR_TOO_LONG"): _("The bio is too long."),
        ("avatar", "ERR_INVALID"): _("This picture can't be used: upload a PNG, JPEG, GIF or WebP image."),
    }
    generic = {
        "ERR_BLANK": _("This can't be empty."),
        "ERR_TOO_LONG": _("This is too long."),
        "ERR_TOO_SHORT": _("This is too short."),
        "ERR_INVALID": _("This value is not valid."),
        "ERR_TAKEN": _("This is already taken."),
    }
    return messages.get((field, code)) or generic.get(code) or code


def field_errors(error: ApiError) -> dict[str, list[str]]:
    """Field -> sentences, for the fields the API named."""
    return {
        field: [field_message(field, code) for code in codes if code]
        for field, codes in error.field_errors().items()
    }


def summary(error: ApiError) -> str:
    """One sentence for the whole form."""
    if error.status == 429:
        return _("You have done that too often. Please wait a few minutes.")
    if error.field_errors():
        return _("Please correct the fields marked below.")
    return error.message
