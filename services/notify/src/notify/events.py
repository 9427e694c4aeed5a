"""The handlers of the events the notify service consumes (read with the shared contracts) and
the one it publishes (`notification.created`, see `notifications/service.py`).

Each handler keeps the replica and makes what notifications and emails the event calls for, in
the consumer's transaction. The shared consumer has already dropped duplicates and stale versions;
a snapshot event is applied as the whole current state, and the first sight of a status does what
its publication would have done (see `replica.service.upsert_status`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from microblog_common.contracts.posts import (
    POST_DELETED,
    POST_FAVOURITED,
    POST_PUBLISHED,
    POST_UPDATED,
    PostDeleted,
    PostFavourited,
    StatusSnapshot,
)
from microblog_common.contracts.users import (
    PASSWORD_RESET_REQUESTED,
    USER_DELETED,
    USER_FOLLOWED,
    USER_REGISTERED,
    USER_UNFOLLOWED,
    USER_UPDATED,
    AccountSnapshot,
    PasswordResetRequested,
    UserDeleted,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
)
from microblog_common.events import Event, EventHandlers
from notify.email import queue as email_queue
from notify.notifications import repository as notifications_repository
from notify.notifications import service as notifications
from notify.replica import repository as replica_repository
from notify.replica import service as replica

handlers = EventHandlers()


@handlers.on(USER_REGISTERED)
def on_registered(session: Session, event: Event) -> None:
    registered = UserRegistered.model_validate(event.data)
    new = replica.upsert_account(session, registered, email=registered.email, locale=registered.locale)
    if new and registered.email:
        email_queue.enqueue(
            session,
            int(registered.id),
            "welcome",
            registered.email,
            registered.locale,
            {"username": registered.username},
        )


@handlers.on(USER_UPDATED)
def on_updated(session: Session, event: Event) -> None:
    replica.upsert_account(session, AccountSnapshot.model_validate(event.data))


@handlers.on(USER_DELETED)
def on_user_deleted(session: Session, event: Event) -> None:
    account_id = int(UserDeleted.model_validate(event.data).id)
    notifications_repository.remove_for_account(session, account_id)
    email_queue.forget_account(session, account_id)
    replica_repository.delete_account(session, account_id)


@handlers.on(USER_FOLLOWED)
def on_followed(session: Session, event: Event) -> None:
    change = UserFollowed.model_validate(event.data)
    follower, followee = int(change.follower_id), int(change.followee_id)
    # Published again when the follow's flags change: only a new follow is told.
    if replica.set_follow(
        session, follower, followee, active=True, notify=change.notify, version=event.version
    ):
        notifications.followed(session, follower, followee, event.version)


@handlers.on(USER_UNFOLLOWED)
def on_unfollowed(session: Session, event: Event) -> None:
    change = UserUnfollowed.model_validate(event.data)
    follower, followee = int(change.follower_id), int(change.followee_id)
    if replica.set_follow(session, follower, followee, active=False, notify=False, version=event.version):
        notifications.unfollowed(session, follower, followee)


@handlers.on(PASSWORD_RESET_REQUESTED)
def on_password_reset_requested(session: Session, event: Event) -> None:
    request = PasswordResetRequested.model_validate(event.data)
    account_id = int(request.user_id)
    replica_repository.set_contact(session, account_id, request.email, request.locale)
    email_queue.enqueue(
        session,
        account_id,
        "password_reset",
        request.email,
        request.locale,
        {
            "username": request.username,
            "reset_url": request.reset_url,
            "expires_at": request.expires_at.isoformat(),
        },
    )


@handlers.on(POST_PUBLISHED)
@handlers.on(POST_UPDATED)
def on_status(session: Session, event: Event) -> None:
    snapshot = StatusSnapshot.model_validate(event.data)
    change = replica.upsert_status(session, snapshot, event.version)
    if change.first_sight:
        notifications.status_published(session, change.status, change)
    if event.type == POST_UPDATED:
        notifications.status_edited(session, change.status, change)


@handlers.on(POST_DELETED)
def on_status_deleted(session: Session, event: Event) -> None:
    snapshot = PostDeleted.model_validate(event.data)
    notifications.status_deleted(session, snapshot)
    replica.delete_status(session, snapshot)


@handlers.on(POST_FAVOURITED)
def on_favourited(session: Session, event: Event) -> None:
    favourite = PostFavourited.model_validate(event.data)
    if replica.status_was_deleted(session, int(favourite.status_id)):
        return  # a favourite that crossed the deletion on its way
    replica.remember_from_favourite(session, favourite.status)
    by = int(favourite.account_id)
    if not replica.add_favourite(session, int(favourite.status_id), by, favourite.at):
        return
    status = replica_repository.status(session, int(favourite.status_id))
    if status is not None:
        notifications.favourited(session, status, by, favourite.id)
