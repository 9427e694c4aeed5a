"""Which text is acceptable: the one place that decides, for every form field and every query
parameter that reaches a database, in every service.

Refused: NUL (PostgreSQL's text types can't hold it), lone surrogates (a JSON `"\\ud800"` escape
decodes to one; it has no UTF-8 encoding, so no database can store it), and the other C0 and C1
control characters except tab, newline and carriage return (invisible, and a way to make two names
look alike). Each field also has its length limit.

Forms use the annotated type: `name: Text`, with its limit `note: Annotated[Text, Field(max_length=500)]`;
their failures are 422s in Mastodon's shape (`ERR_INVALID`, `ERR_TOO_LONG`). A query value that
can never match anything (`acct=a%00b`) is checked with `acceptable()` and answered as the
endpoint answers a non-match."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from microblog_common.errors import TEXT_ERROR_TYPE

# C0 controls but \t \n \r, DEL, C1 controls, and the surrogate range (only lone ones can occur
# in a Python str decoded from UTF-8 or JSON).
_UNACCEPTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
UNACCEPTABLE_DESCRIPTION = "contains characters that are not allowed"


def acceptable(value: str) -> bool:
    return _UNACCEPTABLE.search(value) is None


def check_text(value: str) -> str:
    if not acceptable(value):
        raise PydanticCustomError(TEXT_ERROR_TYPE, UNACCEPTABLE_DESCRIPTION)
    return value


def check_texts(value: Any) -> Any:
    """Every string inside a JSON-like value (lists, dicts, keys included)."""
    if isinstance(value, str):
        return check_text(value)
    if isinstance(value, dict):
        for key, item in value.items():
            check_texts(key)
            check_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_texts(item)
    return value


# Acceptable text of any length (the caller bounds it some other way, e.g. a grapheme count).
Text = Annotated[str, AfterValidator(check_text)]
