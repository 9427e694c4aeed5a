"""The events the posts service publishes (through its outbox, each payload checked against its
shared contract in `microblog_common.contracts.posts`), and the handlers of the `user.*` events it
consumes (read with the shared `microblog_common.contracts.users`) to keep its replica of accounts
and follows.

Published (`data` is the contract, dumped to JSON; ids are strings, times UTC ISO 8601; the
envelope's `version` is the status's version, which grows with every edit and once more on delete):

| type | data | when |
|---|---|---|
| `post.published` | `StatusSnapshot` | a status was posted (directly or by the scheduler) |
| `post.updated` | `StatusSnapshot` (with `edited_at`) | a status was edited |
| `post.deleted` | `PostDeleted` (the last snapshot, `deleted_at`) | a status was deleted |
| `post.favourited` | `PostFavourited` (who, when, and the status's snapshot) | a status was favourited |

Consumers should read tolerantly (fields may be added, never removed) and drop a snapshot whose
version is lower than the one they hold."""

from __future__ import annotations

from sqlalchemy.orm import Session

from microblog_common.contracts import ContractOutbox
from microblog_common.contracts.posts import CONTRACTS
from microblog_common.contracts.users import (
    USER_DELETED,
    USER_FOLLOWED,
    USER_REGISTERED,
    USER_UNFOLLOWED,
    USER_UPDATED,
    AccountSnapshot,
    UserDeleted,
    UserFollowed,
    UserUnfollowed,
)
from microblog_common.events import Event, EventHandlers, Outbox
from posts.models import messaging
from posts.replica import service as replica

outbox = Outbox(messaging.outbox, producer="posts")
# `publish(session, POST_..., payload, subject=..., version=...)`: written in the caller's
# transaction, refused unless the payload is the contract registered for its event type.
publish = ContractOutbox(outbox, CONTRACTS).publish
handlers = EventHandlers()

# How many of a newly followed account's latest posts join the follower's home feed (Mastodon
# merges a quarter of its 800-post feeds).
HOME_BACKFILL = 200


# -- what it consumes (the shared user contracts; only the fields the replica stores) ----------


@handlers.on(USER_REGISTERED)
@handlers.on(USER_UPDATED)
def on_account_snapshot(session: Session, event: Event) -> None:
    # `user.registered` carries UserRegistered, an AccountSnapshot with email and locale, which
    # the replica doesn't keep: both are read as the snapshot.
    replica.apply_snapshot(session, AccountSnapshot.model_validate(event.data))


@handlers.on(USER_FOLLOWED)
def on_followed(session: Session, event: Event) -> None:
    change = UserFollowed.model_validate(event.data)
    replica.set_follow(
        session,
        int(change.follower_id),
        int(change.followee_id),
        active=True,
        at=change.at,
        backfill=HOME_BACKFILL,
    )


@handlers.on(USER_UNFOLLOWED)
def on_unfollowed(session: Session, event: Event) -> None:
    change = UserUnfollowed.model_validate(event.data)
    replica.set_follow(
        session, int(change.follower_id), int(change.followee_id), active=False, at=change.at, backfill=0
    )


@handlers.on(USER_DELETED)
def on_user_deleted(session: Session, event: Event) -> None:
    replica.delete_account(session, int(UserDeleted.model_validate(event.data).id))
