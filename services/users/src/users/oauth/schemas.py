"""The Application and Token entities, the forms of the OAuth endpoints, and OAuth's own error
format (`{"error": code, "error_description": text}`, as Doorkeeper sends it)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from users.models import Application

OOB = "urn:ietf:wg:oauth:2.0:oob"


class OAuthError(Exception):
    def __init__(
        self,
        error: str,
        description: str,
        status_code: int = 400,
        *,
        headers: dict[str, str] | None = None,
        keep_changes: bool = False,
    ):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code
        self.headers = headers
        # The refusal itself changed state that must be committed (e.g. a replayed refresh
        # token revoked its family): answer with the error instead of rolling back.
        self.keep_changes = keep_changes

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status_code,
            headers={"Cache-Control": "no-store", **(self.headers or {})},
        )


def invalid_grant() -> OAuthError:
    return OAuthError(
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI "
        "used in the authorization request, or was issued to another client.",
    )


def invalid_client(*, basic: bool = False) -> OAuthError:
    return OAuthError(
        "invalid_client",
        "Client authentication failed due to unknown client, no client authentication included, "
        "or unsupported authentication method.",
        401,
        headers={"WWW-Authenticate": 'Basic realm="Microblog"'} if basic else None,
    )


class ApplicationEntity(BaseModel):
    id: str
    name: str
    website: str | None
    scopes: list[str]
    redirect_uri: str  # deprecated by Mastodon 4.3 (newline-joined), still served
    redirect_uris: list[str]
    vapid_key: str = ""

    @classmethod
    def of(cls, app: Application) -> ApplicationEntity:
        uris = app.redirect_uris.split("\n")
        return cls(
            id=str(app.id),
            name=app.name,
            website=app.website,
            scopes=app.scopes.split(),
            redirect_uri="\n".join(uris),
            redirect_uris=uris,
        )


class CredentialApplicationEntity(ApplicationEntity):
    client_id: str
    client_secret: str
    client_secret_expires_at: int = 0


class AppForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    client_name: str = Field(min_length=1, max_length=60)
    redirect_uris: list[str] = Field(min_length=1)
    scopes: str = "read"
    website: str | None = Field(None, max_length=2000)

    @field_validator("redirect_uris", mode="before")
    @classmethod
    def _one_per_line(cls, value: Any) -> Any:
        """A string with one URI per line (Mastodon.py) or a list (`redirect_uris[]`, JSON)."""
        if isinstance(value, str):
            value = value.split("\n")
        if isinstance(value, list):
            value = [str(v).strip() for v in value if str(v).strip()]
        return value

    @field_validator("website", mode="before")
    @classmethod
    def _blank_website(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value


class TokenForm(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    grant_type: str = ""
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None


class RevokeForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str = ""
    token_type_hint: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class AuthorizeForm(BaseModel):
    """The query of GET /oauth/authorize and the hidden fields of the form it shows."""

    model_config = ConfigDict(extra="ignore")

    client_id: str = ""
    redirect_uri: str = ""
    response_type: str = ""
    scope: str = ""
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
