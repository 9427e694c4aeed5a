"""The timelines: home, public, hashtag and an account's statuses (each page one query: see
`repository`), with Mastodon's filters. Every status here is local and none has media, so
`remote` and `only_media` find nothing; nothing is pinned."""

from __future__ import annotations

from sqlalchemy.orm import Session

from microblog_common.errors import NotFound
from microblog_common.ids import parse_id
from microblog_common.pagination import Page
from posts.statuses import repository as statuses
from posts.timelines import repository
from posts.timelines.repository import TimelinePage


def home(session: Session, viewer_id: int, page: Page) -> TimelinePage:
    return repository.home(session, viewer_id, page)


def public(
    session: Session, viewer_id: int | None, page: Page, *, remote: bool, only_media: bool
) -> TimelinePage:
    if remote or only_media:
        return TimelinePage([], [])
    return repository.public(session, viewer_id, page)


def hashtag(
    session: Session, viewer_id: int | None, name: str, page: Page, *, remote: bool, only_media: bool
) -> TimelinePage:
    if remote or only_media:
        return TimelinePage([], [])
    return repository.hashtag(session, viewer_id, name, page)


def account_statuses(
    session: Session,
    viewer_id: int | None,
    account_id: str,
    page: Page,
    *,
    exclude_replies: bool,
    exclude_direct: bool,
    tagged: str | None,
    only_media: bool,
    pinned: bool,
) -> TimelinePage:
    author = parse_id(account_id)
    if author is None:
        raise NotFound()
    found = TimelinePage([], [])
    if not (only_media or pinned):
        found = repository.account_statuses(
            session,
            viewer_id,
            author,
            page,
            exclude_replies=exclude_replies,
            exclude_direct=exclude_direct,
            tagged=tagged,
        )
    # Only an empty page costs a second query: is there such an account at all?
    if not found.cursors and statuses.account(session, author) is None:
        raise NotFound()
    return found
