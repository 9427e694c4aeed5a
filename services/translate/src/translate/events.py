"""The handlers of the events the translate service consumes (it publishes none), read with the
shared contracts (`microblog_common.contracts`). The shared consumer drops an event whose version
is not newer than what was applied of its aggregate, so each handler treats a snapshot as the
whole current state ("upsert") and never checks versions itself.

- `post.published`, `post.updated`: keep the status (visibility, language, content, content
  warning, mentions, version) and, when its text or content warning changed, drop the
  translations it had written (an edit made them stale); a snapshot that changes neither (an edit
  of the visibility, or the same edit again with its detected language) keeps them, so the text
  is not sent to the provider twice;
- `post.deleted`: forget the status and its translations;
- `user.registered`, `user.updated`: keep the account's languages (`locale` at registration,
  `default_language` from any snapshot);
- `user.followed`, `user.unfollowed`: keep who follows whom (who may see a followers-only status);
- `user.deleted`: forget the account, its follows, its statuses and their translations."""

from __future__ import annotations

from sqlalchemy.orm import Session

from microblog_common.contracts.posts import POST_DELETED, POST_PUBLISHED, POST_UPDATED, StatusSnapshot
from microblog_common.contracts.users import (
    USER_DELETED,
    USER_FOLLOWED,
    USER_REGISTERED,
    USER_UNFOLLOWED,
    USER_UPDATED,
    AccountSnapshot,
    UserDeleted,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
)
from microblog_common.events import Event, EventHandlers, Outbox
from translate.models import messaging
from translate.replica import repository as replica
from translate.replica.repository import StatusRow
from translate.translations import repository as cache

outbox = Outbox(messaging.outbox, producer="translate")
handlers = EventHandlers()


@handlers.on(POST_PUBLISHED)
@handlers.on(POST_UPDATED)
def on_status(session: Session, event: Event) -> None:
    snapshot = StatusSnapshot.model_validate(event.data)
    status_id = int(snapshot.id)
    before = replica.status(session, status_id)
    replica.upsert_status(
        session,
        StatusRow(
            id=status_id,
            account_id=int(snapshot.account_id),
            visibility=snapshot.visibility,
            language=snapshot.language,
            content=snapshot.html,
            spoiler_text=snapshot.spoiler_text,
            mentioned_ids=tuple(int(m.id) for m in snapshot.mentions),
            version=event.version,
        ),
    )
    if before is not None and (before.content, before.spoiler_text) != (snapshot.html, snapshot.spoiler_text):
        cache.forget_status(session, status_id)


@handlers.on(POST_DELETED)
def on_status_deleted(session: Session, event: Event) -> None:
    status_id = int(StatusSnapshot.model_validate(event.data).id)
    cache.forget_status(session, status_id)
    replica.delete_status(session, status_id)


@handlers.on(USER_REGISTERED)
def on_registered(session: Session, event: Event) -> None:
    registered = UserRegistered.model_validate(event.data)
    replica.upsert_account(
        session,
        int(registered.id),
        locale=registered.locale or None,
        default_language=registered.default_language or None,
    )


@handlers.on(USER_UPDATED)
def on_updated(session: Session, event: Event) -> None:
    snapshot = AccountSnapshot.model_validate(event.data)
    # The account's posting language (Mastodon's source[language]); empty: none.
    replica.upsert_account(
        session, int(snapshot.id), locale=None, default_language=snapshot.default_language or None
    )


@handlers.on(USER_FOLLOWED)
def on_followed(session: Session, event: Event) -> None:
    change = UserFollowed.model_validate(event.data)
    replica.add_follow(session, int(change.follower_id), int(change.followee_id))


@handlers.on(USER_UNFOLLOWED)
def on_unfollowed(session: Session, event: Event) -> None:
    change = UserUnfollowed.model_validate(event.data)
    replica.remove_follow(session, int(change.follower_id), int(change.followee_id))


@handlers.on(USER_DELETED)
def on_user_deleted(session: Session, event: Event) -> None:
    account_id = int(UserDeleted.model_validate(event.data).id)
    cache.forget_account(session, account_id)
    replica.delete_account(session, account_id)
