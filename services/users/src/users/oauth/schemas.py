"""The Application and Token entities, the forms of the OAuth endpoints, and OAuth's own error
format (`{"error": code, "error_description": text}`, as Doorkeeper sends it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from microblog_common.text import Text
from users.models import Application
from users.passwords import MAX_PASSWORD_LENGTH

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


class TokenEntity(BaseModel):
    """Mastodon's Token (Doorkeeper's token response)."""

    access_token: str
    token_type: str
    scope: str
    created_at: int
    expires_in: int | None = None
    refresh_token: str | None = None


class CredentialApplicationEntity(ApplicationEntity):
    client_id: str
    client_secret: str
    client_secret_expires_at: int = 0


class AppForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    client_name: Annotated[Text, Field(min_length=1, max_length=60)]
    redirect_uris: Annotated[
        list[Annotated[Text, Field(max_length=2000)]], Field(min_length=1, max_length=20)
    ]
    scopes: Annotated[Text, Field(max_length=2000)] = "read"
    website: Annotated[Text, Field(max_length=2000)] | None = None

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
    """A malformed one (a wrongly typed field, a character no text may hold) is RFC 6749's
    `invalid_request`, not a 422 (see `oauth_body`)."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    grant_type: Text = ""
    client_id: Text | None = None
    client_secret: Text | None = None
    scope: Text | None = None
    code: Text | None = None
    redirect_uri: Text | None = None
    code_verifier: Text | None = None
    username: Text | None = None
    password: Text | None = None
    refresh_token: Text | None = None


class RevokeForm(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    token: Text = ""
    token_type_hint: Text | None = None
    client_id: Text | None = None
    client_secret: Text | None = None


class SignInForm(BaseModel):
    """What the sign-in and consent page posts besides the authorization request."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)

    username: Annotated[Text, Field(max_length=320)] = ""
    password: Annotated[Text, Field(max_length=MAX_PASSWORD_LENGTH)] = ""
    decision: Text | None = None
    csrf_token: Text | None = Field(None, alias="authenticity_token")


class AuthorizeForm(BaseModel):
    """The query of GET /oauth/authorize and the hidden fields of the form it shows."""

    model_config = ConfigDict(extra="ignore")

    client_id: Text = ""
    redirect_uri: Text = ""
    response_type: Text = ""
    scope: Text = ""
    state: Text | None = None
    code_challenge: Text | None = None
    code_challenge_method: Text | None = None


def invalid_request(exc: ValidationError) -> OAuthError:
    """A form that didn't validate, as RFC 6749 section 5.2 (and Doorkeeper) answers it."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err.get("loc", ())) or "the request"
        problems.append(f"{where}: {str(err.get('msg', 'is invalid')).removeprefix('Value error, ')}")
    return OAuthError(
        "invalid_request",
        "The request is missing a required parameter, includes an "
        "unsupported parameter value, or is otherwise malformed (" + "; ".join(problems) + ").",
    )
