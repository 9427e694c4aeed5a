"""The users service's side of its events: it publishes the `user.*` events whose payload
contracts live in `microblog_common.contracts.users` (shared with every consumer) through its
outbox, and consumes `post.published` and `post.deleted` to keep each account's `statuses_count`
and `last_status_at` (the handlers are at the end)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from microblog_common.contracts import ContractOutbox
from microblog_common.contracts.posts import POST_DELETED, POST_PUBLISHED, PostDeleted, StatusSnapshot
from microblog_common.contracts.users import (
    CONTRACTS,
    PASSWORD_RESET_REQUESTED,
    USER_FOLLOWED,
    USER_REGISTERED,
    USER_UNFOLLOWED,
    USER_UPDATED,
    AccountSnapshot,
    PasswordResetRequested,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
    follow_subject,
)
from microblog_common.events import Event, EventHandlers, Outbox
from microblog_common.urls import PublicUrls
from users.accounts import repository as accounts_repository
from users.accounts.rendering import field_value_html
from users.accounts.schemas import pictures
from users.models import Account, messaging

__all__ = [
    "CONTRACTS",
    "PASSWORD_RESET_REQUESTED",
    "USER_FOLLOWED",
    "USER_REGISTERED",
    "USER_UNFOLLOWED",
    "USER_UPDATED",
    "AccountSnapshot",
    "PasswordResetRequested",
    "UserFollowed",
    "UserRegistered",
    "UserUnfollowed",
    "account_snapshot",
    "follow_subject",
    "handlers",
    "publish",
]

outbox = Outbox(messaging.outbox, producer="users")
# Validates each payload against the contract of its type and writes it in the caller's transaction.
publish = ContractOutbox(outbox, CONTRACTS).publish
handlers = EventHandlers()


def account_snapshot(account: Account, urls: PublicUrls) -> dict[str, Any]:
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": account.username,
        "display_name": account.display_name,
        "note": account.note_html,
        "note_text": account.note,
        "url": urls.profile(account.username),
        **pictures(account, urls),
        "locked": account.locked,
        "bot": account.bot,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "hide_collections": account.hide_collections,
        "fields": [{"name": f["name"], "value": field_value_html(f["value"])} for f in account.fields],
        "default_privacy": account.default_privacy,
        "default_sensitive": account.default_sensitive,
        "default_language": account.default_language,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
        "version": account.version,
    }


# -- what it consumes: statuses, for the counts an Account shows ------------------------------
# Direct statuses don't count (Mastodon's `statuses_count`). A status's visibility never changes,
# and the shared consumer drops a late `post.published` after its `post.deleted` (versions).


@handlers.on(POST_PUBLISHED)
def on_status_published(session: Session, event: Event) -> None:
    status = StatusSnapshot.model_validate(event.data)
    if status.visibility != "direct":
        accounts_repository.count_status(session, int(status.id), int(status.account_id), status.created_at)


@handlers.on(POST_DELETED)
def on_status_deleted(session: Session, event: Event) -> None:
    accounts_repository.uncount_status(session, int(PostDeleted.model_validate(event.data).id))
