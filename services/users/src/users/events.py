"""Events the users service publishes (through its outbox) and the payload contract of each: the
`data` of every event is one of the models below, dumped to JSON. Ids are strings (as in the API),
times UTC ISO 8601. Consumers should read tolerantly (fields may be added, never removed).

| type | data | when |
|---|---|---|
| `user.registered` | `UserRegistered` (account snapshot + email + locale) | an account was created |
| `user.updated` | `AccountSnapshot` | the profile changed; `version` grows with every change |
| `user.followed` | `UserFollowed` | a follow was made, or its `notify`/`reblogs`/`languages` changed |
| `user.unfollowed` | `UserUnfollowed` | a follow was removed |
| `user.password_reset_requested` | `PasswordResetRequested` | a reset was asked for an existing account |

It consumes nothing."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from microblog_common.events import Event, EventHandlers, Outbox
from users.accounts.rendering import field_value_html
from users.models import Account, messaging
from users.urls import Urls

outbox = Outbox(messaging.outbox, producer="users")
handlers = EventHandlers()

USER_REGISTERED = "user.registered"
USER_UPDATED = "user.updated"
USER_FOLLOWED = "user.followed"
USER_UNFOLLOWED = "user.unfollowed"
PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # noqa: S105 - an event type


class SnapshotField(BaseModel):
    name: str
    value: str  # HTML, as in the Account entity


class AccountSnapshot(BaseModel):
    """The public profile (no counts: they change with every follow and are not versioned)."""

    id: str
    username: str
    acct: str
    display_name: str
    note: str  # HTML, as served
    note_text: str  # as typed
    url: str
    avatar: str
    avatar_static: str
    header: str
    locked: bool
    bot: bool
    discoverable: bool
    indexable: bool
    hide_collections: bool
    fields: list[SnapshotField]
    created_at: datetime
    updated_at: datetime
    # Grows with every change of the profile: drop a snapshot older than the one you hold.
    version: int


class UserRegistered(AccountSnapshot):
    email: str
    locale: str


class UserFollowed(BaseModel):
    follower_id: str
    followee_id: str
    at: datetime
    notify: bool
    reblogs: bool
    languages: list[str] | None


class UserUnfollowed(BaseModel):
    follower_id: str
    followee_id: str
    at: datetime


class PasswordResetRequested(BaseModel):
    user_id: str
    username: str
    email: str
    locale: str
    token: str
    expires_at: datetime
    # The web UI's reset page with the token, to put in the email as is.
    reset_url: str


CONTRACTS: dict[str, type[BaseModel]] = {
    USER_REGISTERED: UserRegistered,
    USER_UPDATED: AccountSnapshot,
    USER_FOLLOWED: UserFollowed,
    USER_UNFOLLOWED: UserUnfollowed,
    PASSWORD_RESET_REQUESTED: PasswordResetRequested,
}


def account_snapshot(account: Account, urls: Urls) -> dict:
    avatar = urls.avatar(account.id)
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": account.username,
        "display_name": account.display_name,
        "note": account.note_html,
        "note_text": account.note,
        "url": urls.profile(account.username),
        "avatar": avatar,
        "avatar_static": avatar,
        "header": urls.header(),
        "locked": account.locked,
        "bot": account.bot,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "hide_collections": account.hide_collections,
        "fields": [{"name": f["name"], "value": field_value_html(f["value"])} for f in account.fields],
        "created_at": account.created_at,
        "updated_at": account.updated_at,
        "version": account.version,
    }


def publish(session: Session, event_type: str, payload: BaseModel, *, subject: int | str) -> Event:
    """Validates against the contract of `event_type` and writes to the outbox (same transaction)."""
    contract = CONTRACTS[event_type]
    if not isinstance(payload, contract):
        raise TypeError(f"{event_type} carries {contract.__name__}, not {type(payload).__name__}")
    return outbox.add(session, event_type, subject=subject, data=payload.model_dump(mode="json"))
