from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from users.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH


class ResetRequestForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str = Field(max_length=320)


class ResetConfirmForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
