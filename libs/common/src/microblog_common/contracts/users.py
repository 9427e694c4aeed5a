"""Events the users service publishes.

| type | data | when |
|---|---|---|
| `user.registered` | `UserRegistered` (account snapshot + email + locale) | an account was created |
| `user.updated` | `AccountSnapshot` | the profile changed; `version` grows with every change |

The users service also answers `GET /internal/accounts/{id}` with the current `AccountSnapshot`
(for a service that must not act on a stale replica, e.g. posts applying posting defaults).
| `user.followed` | `UserFollowed` | a follow was made, or its `notify`/`reblogs`/`languages` changed |
| `user.unfollowed` | `UserUnfollowed` | a follow was removed |
| `user.password_reset_requested` | `PasswordResetRequested` | a reset was asked for an existing account |
| `user.deleted` | `UserDeleted` | an account was deleted (consumers drop what they hold of it) |

Versions (the envelope's `version`, see `events/versions.py`): the `account` aggregate (subject: the
account id) for registered, updated and deleted; the `follow` aggregate (subject:
`follow_subject(follower, followee)`) for followed and unfollowed, its version growing with every
change of the pair. A password reset request is not versioned."""

from __future__ import annotations

from datetime import datetime

from microblog_common.contracts import Contract

USER_REGISTERED = "user.registered"
USER_UPDATED = "user.updated"
USER_FOLLOWED = "user.followed"
USER_UNFOLLOWED = "user.unfollowed"
USER_DELETED = "user.deleted"
PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # noqa: S105 - an event type


class SnapshotField(Contract):
    name: str
    value: str  # HTML, as in the Account entity


class AccountSnapshot(Contract):
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
    # A still of an animated header (the header itself otherwise); "" from producers before it.
    header_static: str = ""
    locked: bool
    bot: bool
    discoverable: bool
    indexable: bool
    hide_collections: bool
    fields: list[SnapshotField]
    # The author's posting defaults (Mastodon's `source[privacy]`, `source[sensitive]`): what a post
    # that names no visibility or sensitivity gets.
    default_privacy: str = "public"
    default_sensitive: bool = False
    # `source[language]`: the language of a post that names none ("" for none: detect it).
    default_language: str = ""
    created_at: datetime
    updated_at: datetime
    # Grows with every change of the profile: drop a snapshot older than the one you hold.
    version: int


class UserRegistered(AccountSnapshot):
    email: str
    locale: str


class UserFollowed(Contract):
    follower_id: str
    followee_id: str
    at: datetime
    notify: bool
    reblogs: bool
    languages: list[str] | None


class UserUnfollowed(Contract):
    follower_id: str
    followee_id: str
    at: datetime


class UserDeleted(Contract):
    id: str


class PasswordResetRequested(Contract):
    user_id: str
    username: str
    email: str
    locale: str
    token: str
    expires_at: datetime
    # The web UI's reset page with the token, to put in the email as is.
    reset_url: str


def follow_subject(follower_id: int | str, followee_id: int | str) -> str:
    """The subject of the follow events: the pair, the aggregate whose version they carry."""
    return f"{follower_id}:{followee_id}"


AGGREGATE_OF: dict[str, str] = {
    USER_REGISTERED: "account",
    USER_UPDATED: "account",
    USER_DELETED: "account",
    USER_FOLLOWED: "follow",
    USER_UNFOLLOWED: "follow",
}

CONTRACTS: dict[str, type[Contract]] = {
    USER_REGISTERED: UserRegistered,
    USER_UPDATED: AccountSnapshot,
    USER_FOLLOWED: UserFollowed,
    USER_UNFOLLOWED: UserUnfollowed,
    USER_DELETED: UserDeleted,
    PASSWORD_RESET_REQUESTED: PasswordResetRequested,
}
