"""The events the search service consumes, applied to its replica (`replica/service.py`), which
queues the documents they change for the indexer. It publishes none.

Snapshots are upserts: a `post.updated` whose `post.published` was never seen (a gap the shared
version rule allows) creates the status as it is now."""

from __future__ import annotations

from sqlalchemy.orm import Session

from microblog_common.contracts.posts import (
    POST_DELETED,
    POST_FAVOURITED,
    POST_PUBLISHED,
    POST_UNFAVOURITED,
    POST_UPDATED,
    PostDeleted,
    PostFavourited,
    PostUnfavourited,
    StatusSnapshot,
)
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
from search.models import messaging
from search.replica import service as replica

outbox = Outbox(messaging.outbox, producer="search")
handlers = EventHandlers()


@handlers.on(POST_PUBLISHED)
@handlers.on(POST_UPDATED)
def on_status_snapshot(session: Session, event: Event) -> None:
    replica.upsert_status(session, StatusSnapshot.model_validate(event.data))


@handlers.on(POST_DELETED)
def on_status_deleted(session: Session, event: Event) -> None:
    gone = PostDeleted.model_validate(event.data)
    replica.delete_status(session, int(gone.id), int(gone.account_id))


@handlers.on(POST_FAVOURITED)
def on_favourited(session: Session, event: Event) -> None:
    change = PostFavourited.model_validate(event.data)
    replica.set_favourite(session, int(change.account_id), int(change.status_id), active=True, at=change.at)


@handlers.on(POST_UNFAVOURITED)
def on_unfavourited(session: Session, event: Event) -> None:
    change = PostUnfavourited.model_validate(event.data)
    replica.set_favourite(session, int(change.account_id), int(change.status_id), active=False, at=change.at)


@handlers.on(USER_REGISTERED)
@handlers.on(USER_UPDATED)
def on_account_snapshot(session: Session, event: Event) -> None:
    # `user.registered` is the snapshot plus email and locale, which the replica doesn't keep.
    replica.upsert_account(session, AccountSnapshot.model_validate(event.data))


@handlers.on(USER_DELETED)
def on_account_deleted(session: Session, event: Event) -> None:
    replica.delete_account(session, int(UserDeleted.model_validate(event.data).id))


@handlers.on(USER_FOLLOWED)
def on_followed(session: Session, event: Event) -> None:
    change = UserFollowed.model_validate(event.data)
    replica.set_follow(session, int(change.follower_id), int(change.followee_id), active=True)


@handlers.on(USER_UNFOLLOWED)
def on_unfollowed(session: Session, event: Event) -> None:
    change = UserUnfollowed.model_validate(event.data)
    replica.set_follow(session, int(change.follower_id), int(change.followee_id), active=False)
