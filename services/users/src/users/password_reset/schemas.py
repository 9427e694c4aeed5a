from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from microblog_common.text import Text
from users.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH


class ResetRequestForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Not `Text`: an address no account can have is answered 202 like any other (never a 422 that
    # would tell it apart), and the service looks nothing up for it.
    email: str = Field(max_length=320)


class ResetConfirmForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: Annotated[Text, Field(min_length=1, max_length=200)]
    password: Annotated[Text, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
