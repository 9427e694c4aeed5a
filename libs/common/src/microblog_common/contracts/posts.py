"""Events the posts service publishes. The envelope's `version` is the version of the `status`
aggregate (subject: the status id), which grows with every edit and once more on delete; the
shared consumer drops an older one (`events/versions.py`). A favourite is not versioned.

| type | data | when |
|---|---|---|
| `post.published` | `StatusSnapshot` | a status was posted (directly or by the scheduler) |
| `post.updated` | `StatusSnapshot` (with `edited_at`) | a status was edited |
| `post.deleted` | `PostDeleted` (the last snapshot, `deleted_at`) | a status was deleted |
| `post.favourited` | `PostFavourited` (who, when, and the status's snapshot) | a status was favourited |
| `post.unfavourited` | `PostUnfavourited` (who, when) | a favourite was taken back |

Neither favourite event is versioned: a consumer keeps, per account and status, the newest `at`."""

from __future__ import annotations

from datetime import datetime

from microblog_common.contracts import Contract

POST_PUBLISHED = "post.published"
POST_UPDATED = "post.updated"
POST_DELETED = "post.deleted"
POST_FAVOURITED = "post.favourited"
POST_UNFAVOURITED = "post.unfavourited"


class MentionSnapshot(Contract):
    id: str
    username: str
    acct: str
    url: str


class StatusSnapshot(Contract):
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


class PostFavourited(Contract):
    id: str  # the favourite's
    status_id: str
    status_account_id: str
    account_id: str  # who favourited
    at: datetime
    status: StatusSnapshot


class PostUnfavourited(Contract):
    status_id: str
    status_account_id: str
    account_id: str  # who took the favourite back
    at: datetime


class ExportedFavourite(Contract):
    """A favourite as the posts service exports it (`/internal/export/favourites`)."""

    id: str
    status_id: str
    status_account_id: str
    account_id: str
    at: datetime


AGGREGATE_OF: dict[str, str] = {
    POST_PUBLISHED: "status",
    POST_UPDATED: "status",
    POST_DELETED: "status",
}

CONTRACTS: dict[str, type[Contract]] = {
    POST_PUBLISHED: StatusSnapshot,
    POST_UPDATED: StatusSnapshot,
    POST_DELETED: PostDeleted,
    POST_FAVOURITED: PostFavourited,
    POST_UNFAVOURITED: PostUnfavourited,
}
