"""The one check of acceptable text: what no database column may hold is refused as a 422 in
Mastodon's shape, whatever the field."""

from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from microblog_common.errors import validation_errors_of
from microblog_common.text import Text, acceptable, check_texts


class Form(BaseModel):
    name: Annotated[Text, Field(max_length=5)] = ""
    tags: list[Text] = []


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "\ud800", "x\udfff", "bell\x07", "esc\x1b[31m", "del\x7f", "c1\x85", "vt\x0b", "ff\x0c"],
)
def test_control_characters_nul_and_lone_surrogates_are_refused(value):
    assert not acceptable(value)
    with pytest.raises(ValidationError) as caught:
        Form(name=value[:5])
    assert validation_errors_of(caught.value.errors()).details == {
        "name": [{"error": "ERR_INVALID", "description": "contains characters that are not allowed"}]
    }


@pytest.mark.parametrize("value", ["plain", "tab\tnew\nline\r\n", "émoji 🎉", "日本語", "\u200bzero-width"])
def test_ordinary_text_passes(value):
    assert acceptable(value)


def test_length_and_nested_values():
    with pytest.raises(ValidationError) as caught:
        Form(name="toolong", tags=["ok", "bad\x00"])
    assert validation_errors_of(caught.value.errors()).details == {
        "name": [{"error": "ERR_TOO_LONG", "description": "is too long (maximum is 5 characters)"}],
        "tags.1": [{"error": "ERR_INVALID", "description": "contains characters that are not allowed"}],
    }
    with pytest.raises(ValueError):
        check_texts({"k": ["v", {"bad\x00key": 1}]})
