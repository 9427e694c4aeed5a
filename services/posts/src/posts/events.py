"""Events the posts service publishes (through its outbox) with the payload contract of each, and
the handlers of the `user.*` events it consumes to keep its replica of accounts and follows.

Published (`data` is the model, dumped to JSON; ids are strings, times UTC ISO 8601; the envelope's
`version` is the status's version, which grows with every edit and once more on delete):

| type | data | when |
|---|---|---|
| `post.published` | `StatusSnapshot` | a status was posted (directly or by the scheduler) |
| `post.updated` | `StatusSnapshot` (with `edited_at`) | a status was edited |
| `post.deleted` | `PostDeleted` (the last snapshot, `deleted_at`) | a status was deleted |
| `post.favourited` | `PostFavourited` (who, when, and the status's snapshot) | a status was favourited |

Consumers should read tolerantly (fields may be added, never removed) and drop a snapshot whose
version is lower than the one they hold."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy.orm import Session

from microblog_common.events import Event, EventHandlers, Outbox
from posts.models import messaging
from posts.replica import service as replica

outbox = Outbox(messaging.outbox, producer="posts")
handlers = EventHandlers()

POST_PUBLISHED = "post.published"
POST_UPDATED = "post.updated"
POST_DELETED = "post.deleted"
POST_FAVOURITED = "post.favourited"

# How many of a newly followed account's latest posts join the follower's home feed (Mastodon
# merges a quarter of its 800-post feeds).
HOME_BACKFILL = 200


# -- what this service publishes ----------------------------------------------------------------


class MentionSnapshot(BaseModel):
    id: str
    username: str
    acct: str
    url: str


class StatusSnapshot(BaseModel):
    id: str
    account_id: str
    acct: str  # the author's
    url: str
    uri: str
    text: str  # as typed
    html: str  # the `content` clients see
    spoiler_text: str
    sensitive: bool
    visibility: str
    language: str | None
    in_reply_to_id: str | None
    in_reply_to_account_id: str | None
    mentions: list[MentionSnapshot]
    tags: list[str]
    created_at: datetime
    edited_at: datetime | None
    version: int


class PostDeleted(StatusSnapshot):
    deleted_at: datetime


class PostFavourited(BaseModel):
    id: str  # the favourite's
    status_id: str
    status_account_id: str
    account_id: str  # who favourited
    at: datetime
    status: StatusSnapshot


CONTRACTS: dict[str, type[BaseModel]] = {
    POST_PUBLISHED: StatusSnapshot,
    POST_UPDATED: StatusSnapshot,
    POST_DELETED: PostDeleted,
    POST_FAVOURITED: PostFavourited,
}


def publish(
    session: Session, event_type: str, payload: BaseModel, *, subject: int | str, version: int
) -> Event:
    """Validates against the contract of `event_type` and writes to the outbox (same transaction)."""
    contract = CONTRACTS[event_type]
    if type(payload) is not contract:
        raise TypeError(f"{event_type} carries {contract.__name__}, not {type(payload).__name__}")
    return outbox.add(
        session, event_type, subject=subject, data=payload.model_dump(mode="json"), version=version
    )


# -- what it consumes (read tolerantly: only the fields used here) ------------------------------


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AccountField(_Tolerant):
    name: str
    value: str


class AccountSnapshot(_Tolerant):
    """`user.registered` / `user.updated`."""

    id: int
    username: str
    acct: str
    display_name: str
    note: str
    url: str
    avatar: str
    avatar_static: str
    header: str
    locked: bool
    bot: bool
    discoverable: bool
    indexable: bool
    hide_collections: bool
    fields: list[AccountField]
    created_at: datetime
    version: int
    # Posting defaults (the CredentialAccount's `source[privacy]` and `source[sensitive]`), when
    # the users service sends them; otherwise Mastodon's own defaults.
    default_privacy: str = "public"
    default_sensitive: bool = False

    @field_validator("default_privacy", mode="before")
    @classmethod
    def _known_visibility(cls, value: object) -> object:
        return value if value in ("public", "unlisted", "private") else "public"


class FollowChange(_Tolerant):
    """`user.followed` / `user.unfollowed`."""

    follower_id: int
    followee_id: int
    at: datetime


class UserDeleted(_Tolerant):
    id: int


@handlers.on("user.registered")
@handlers.on("user.updated")
def on_account_snapshot(session: Session, event: Event) -> None:
    snapshot = AccountSnapshot.model_validate(event.data)
    replica.upsert_account(session, snapshot.id, snapshot.model_dump(exclude={"id"}))


@handlers.on("user.followed")
def on_followed(session: Session, event: Event) -> None:
    change = FollowChange.model_validate(event.data)
    replica.set_follow(
        session, change.follower_id, change.followee_id, active=True, at=change.at, backfill=HOME_BACKFILL
    )


@handlers.on("user.unfollowed")
def on_unfollowed(session: Session, event: Event) -> None:
    change = FollowChange.model_validate(event.data)
    replica.set_follow(
        session, change.follower_id, change.followee_id, active=False, at=change.at, backfill=0
    )


@handlers.on("user.deleted")
def on_user_deleted(session: Session, event: Event) -> None:
    replica.delete_account(session, UserDeleted.model_validate(event.data).id)
