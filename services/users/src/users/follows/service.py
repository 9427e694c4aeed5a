"""Following and unfollowing, relationships and the followers/following lists.

Locked accounts: Mastodon turns a follow of a locked account into a request the account approves.
Follow requests don't exist here yet, so following a locked account follows it directly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from microblog_common.errors import ERR_INVALID, NotFound, invalid
from microblog_common.ids import new_id, parse_id
from microblog_common.pagination import Page
from users import events
from users.accounts import repository as accounts_repository
from users.follows import repository
from users.follows.schemas import FollowForm, RelationshipEntity
from users.models import Account, Follow


def _target(session: Session, account_id: str) -> Account:
    target_id = parse_id(account_id)
    target = accounts_repository.get(session, target_id) if target_id is not None else None
    if target is None:
        raise NotFound()
    return target


def relationship(session: Session, me: int, other: int) -> RelationshipEntity:
    return relationships(session, me, [other])[0]


def relationships_with(session: Session, me: int, account_ids: Sequence[int]) -> list[RelationshipEntity]:
    """GET /api/v1/accounts/relationships: in request order, leaving out ids that name no account
    (Mastodon does the same, so clients never see a relationship with nobody)."""
    known = accounts_repository.existing_ids(session, account_ids)
    return relationships(session, me, [i for i in account_ids if i in known])


def relationships(session: Session, me: int, others: Sequence[int]) -> list[RelationshipEntity]:
    follows = repository.between(session, me, others)
    outgoing = {f.target_account_id: f for f in follows if f.account_id == me}
    incoming = {f.account_id for f in follows if f.target_account_id == me}
    result = []
    for other in others:
        mine = outgoing.get(other)
        result.append(
            RelationshipEntity(
                id=str(other),
                following=mine is not None,
                showing_reblogs=bool(mine and mine.show_reblogs),
                notifying=bool(mine and mine.notify),
                languages=mine.languages if mine else None,
                followed_by=other in incoming,
            )
        )
    return result


def _publish_followed(session: Session, follow: Follow, at: datetime) -> None:
    pair = (follow.account_id, follow.target_account_id)
    events.publish(
        session,
        events.USER_FOLLOWED,
        events.UserFollowed(
            follower_id=str(follow.account_id),
            followee_id=str(follow.target_account_id),
            at=at,
            notify=follow.notify,
            reblogs=follow.show_reblogs,
            languages=follow.languages,
        ),
        subject=events.follow_subject(*pair),
        version=repository.next_pair_version(session, *pair),
    )


def follow(session: Session, me: int, account_id: str, form: FollowForm) -> RelationshipEntity:
    """Idempotent: following again only updates the `reblogs`/`notify`/`languages` given."""
    target = _target(session, account_id)
    if target.id == me:
        raise invalid("id", ERR_INVALID, "is your own account", message="You can't follow yourself")
    now = datetime.now(UTC)
    new = Follow(
        id=new_id(),
        account_id=me,
        target_account_id=target.id,
        show_reblogs=True if form.reblogs is None else form.reblogs,
        notify=bool(form.notify),
        languages=form.languages or None,
        created_at=now,
    )
    if repository.insert_if_absent(session, new):
        repository.change_counts(session, me, target.id, +1)
        _publish_followed(session, new, now)
    else:
        existing = repository.get(session, me, target.id)
        assert existing is not None
        # Only what the request gives changes; `languages` given empty means "every language"
        # again (None), as Mastodon does.
        changes: dict[str, object] = {}
        if form.reblogs is not None:
            changes["show_reblogs"] = form.reblogs
        if form.notify is not None:
            changes["notify"] = form.notify
        if form.languages is not None:
            changes["languages"] = form.languages or None
        changed = False
        for attr, value in changes.items():
            if getattr(existing, attr) != value:
                setattr(existing, attr, value)
                changed = True
        if changed:
            session.flush()
            _publish_followed(session, existing, now)
    session.flush()
    session.expire_all()  # counts were changed in SQL
    return relationship(session, me, target.id)


def unfollow(session: Session, me: int, account_id: str) -> RelationshipEntity:
    target = _target(session, account_id)
    if repository.delete_pair(session, me, target.id):
        repository.change_counts(session, me, target.id, -1)
        events.publish(
            session,
            events.USER_UNFOLLOWED,
            events.UserUnfollowed(follower_id=str(me), followee_id=str(target.id), at=datetime.now(UTC)),
            subject=events.follow_subject(me, target.id),
            version=repository.next_pair_version(session, me, target.id),
        )
        session.expire_all()
    return relationship(session, me, target.id)


def _listing(
    session: Session, viewer: int | None, account_id: str, page: Page, followers: bool
) -> list[tuple[int, Account]]:
    owner = _target(session, account_id)
    # Mastodon's "hide your network": only the owner sees their lists.
    if owner.hide_collections and viewer != owner.id:
        return []
    fetch = repository.followers_page if followers else repository.following_page
    return fetch(session, owner.id, page)


def followers(session: Session, viewer: int | None, account_id: str, page: Page) -> list[tuple[int, Account]]:
    return _listing(session, viewer, account_id, page, followers=True)


def following(session: Session, viewer: int | None, account_id: str, page: Page) -> list[tuple[int, Account]]:
    return _listing(session, viewer, account_id, page, followers=False)
