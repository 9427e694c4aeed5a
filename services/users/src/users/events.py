"""The users service's side of its events: it publishes the `user.*` events whose payload
contracts live in `microblog_common.contracts.users` (shared with every consumer) through its
outbox, and consumes nothing."""

from __future__ import annotations

from microblog_common.contracts import ContractOutbox
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
)
from microblog_common.events import EventHandlers, Outbox
from microblog_common.urls import PublicUrls
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
    "handlers",
    "publish",
]

outbox = Outbox(messaging.outbox, producer="users")
# Validates each payload against the contract of its type and writes it in the caller's transaction.
publish = ContractOutbox(outbox, CONTRACTS).publish
handlers = EventHandlers()


def account_snapshot(account: Account, urls: PublicUrls) -> dict:
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
