"""Posting, editing, deleting and reading statuses: the rules of Mastodon's PostStatusService,
UpdateStatusService and StatusPolicy. Flushes, never commits.

Errors are Mastodon's: 422 `Validation failed: ...` for bad input, 404 for a status the caller may
not see or does not own (Mastodon answers an edit or delete of someone else's post with 404)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session

from microblog_common.contracts.posts import (
    POST_DELETED,
    POST_PUBLISHED,
    POST_UPDATED,
    PostDeleted,
    StatusSnapshot,
)
from microblog_common.contracts.users import AccountSnapshot
from microblog_common.errors import (
    BASE_FIELD,
    ERR_BLANK,
    ERR_INCLUSION,
    ERR_INVALID,
    ERR_TOO_LONG,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
)
from microblog_common.errors import invalid as common_invalid
from microblog_common.ids import new_id, parse_id
from posts import events
from posts.languages import normalise
from posts.models import VISIBILITIES, Account, Status, StatusEdit
from posts.replica import service as replica
from posts.runtime import Runtime
from posts.statuses import repository
from posts.statuses import text as post_text
from posts.statuses.rendering import account_json, edit_json, status_json
from posts.statuses.repository import StatusRow, as_account
from posts.statuses.schemas import EditForm, StatusForm

log = structlog.get_logger(__name__)

REPLY_NOT_FOUND = "The post you are trying to reply to does not appear to exist."


def invalid(
    message: str, field: str = BASE_FIELD, code: str = ERR_INVALID, description: str | None = None
) -> Unprocessable:
    """Mastodon's 422 in its own words (`Validation failed: Text can't be blank`), with the details
    by field in the shape every service answers."""
    return common_invalid(field, code, description, message=f"Validation failed: {message}")


@dataclass(frozen=True)
class Draft:
    """A status about to be published, checked: what a scheduled status keeps until it is due."""

    text: str
    visibility: str
    spoiler_text: str
    sensitive: bool
    language: str | None  # the client's; None: detect at publishing
    in_reply_to_id: int | None
    application_id: int | None  # the posting application's numeric id (Mastodon's)

    def params(self, idempotency: str | None) -> dict[str, Any]:
        """Mastodon's ScheduledStatus `params`."""
        return {
            "text": self.text,
            "poll": None,
            "media_ids": None,
            "sensitive": self.sensitive,
            "spoiler_text": self.spoiler_text or None,
            "visibility": self.visibility,
            "language": self.language,
            "scheduled_at": None,
            "idempotency": idempotency,
            "with_rate_limit": False,
            "in_reply_to_id": str(self.in_reply_to_id) if self.in_reply_to_id is not None else None,
            "application_id": self.application_id,
            "allowed_mentions": None,
            "quoted_status_id": None,
            "quote_approval_policy": None,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Draft:
        return cls(
            text=params["text"],
            visibility=params["visibility"],
            spoiler_text=params.get("spoiler_text") or "",
            sensitive=bool(params.get("sensitive")),
            language=params.get("language"),
            in_reply_to_id=parse_id(params.get("in_reply_to_id")),
            application_id=_application_id(params.get("application_id")),
        )


def _application_id(value: Any) -> int | None:
    """An integer, as Mastodon's params hold it (older rows held the OAuth client id: no number)."""
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def relies_on_privacy_defaults(form: StatusForm) -> bool:
    """Whether the post takes its author's default visibility or sensitivity: what must never be
    read from a lagging replica. (The default language is read from the replica: a post in a
    language set a second ago may still be tagged with the previous default, and nothing leaks.)"""
    return form.visibility is None or form.sensitive is None


def author_account(session: Session, runtime: Runtime, account_id: int, form: StatusForm) -> Account:
    """The author, as of now. A post that takes the author's default visibility or sensitivity
    asks the users service for the current snapshot first (before this request holds a database
    connection), and applies it to the replica under the events' version rule (the event,
    arriving later, then changes nothing): a privacy the author has just set is never ignored. So
    does a post whose author the replica doesn't know yet (posting the moment after signing up)."""
    fetched: AccountSnapshot | None = None
    if relies_on_privacy_defaults(form):
        try:
            fetched = _current_snapshot(runtime, account_id)
        except ServiceUnavailable:
            raise ServiceUnavailable(
                "The users service is unavailable, so your default post privacy and sensitivity "
                "can't be checked; try again in a moment, or give visibility and sensitive"
            ) from None
    if fetched is None:
        return known_account(session, runtime, account_id)
    replica.apply_fetched_snapshot(session, fetched)
    return _replicated(session, account_id, fresh=True)


def known_account(session: Session, runtime: Runtime, account_id: int) -> Account:
    """The caller's account in the replica; one the replica doesn't know yet (acting the moment
    after signing up, before `user.registered` got here) is asked of the users service."""
    if repository.account(session, account_id) is None:
        replica.apply_fetched_snapshot(session, _current_snapshot(runtime, account_id))
        return _replicated(session, account_id, fresh=True)
    return _replicated(session, account_id)


def _replicated(session: Session, account_id: int, *, fresh: bool = False) -> Account:
    account = repository.account(session, account_id, fresh=fresh)
    if account is None:
        raise ServiceUnavailable("Your account is not known to the posts service yet; try again in a moment")
    return account


def _current_snapshot(runtime: Runtime, account_id: int) -> AccountSnapshot:
    snapshot = runtime.accounts.current(account_id)
    if snapshot is None:
        # A signed-in caller the users service doesn't know: its account is gone.
        raise NotFound("Your account does not exist")
    return snapshot


def _check_text(runtime: Runtime, text: str, spoiler_text: str) -> None:
    if not text.strip():
        raise invalid("Text can't be blank", "status", ERR_BLANK)
    limit = runtime.settings.max_characters
    if post_text.length(text, spoiler_text, runtime.settings.characters_per_url) > limit:
        raise invalid(
            f"Text character limit of {limit} exceeded",
            "status",
            ERR_TOO_LONG,
            f"is too long (maximum is {limit} characters)",
        )


def _check_language(value: str | None) -> str | None:
    if value is None:
        return None
    code = normalise(value)
    if code is None:
        raise invalid("Language is not a valid ISO 639 language code", "language", ERR_INCLUSION)
    return code


def _refuse_unsupported(media_ids: list[str] | None, poll: Any) -> None:
    if media_ids:
        raise invalid("Media attachments are not supported", "media_ids", description="are not supported")
    if poll:
        raise invalid("Polls are not supported", "poll", description="are not supported")


def _sensitive(given: bool | None, spoiler_text: str | None, otherwise: bool) -> bool:
    """Mastodon's rule: as given (else `otherwise`), and always when there is a content warning."""
    return (given if given is not None else otherwise) or bool((spoiler_text or "").strip())


def check_draft(
    session: Session, runtime: Runtime, author: Account, form: StatusForm, application_id: int | None
) -> Draft:
    """The post as it will be published; what the form leaves out is the author's default
    (`default_privacy`, `default_sensitive`, `default_language`, current: see `author_account`),
    as Mastodon's PostStatusService does; a language neither given nor defaulted is detected."""
    _refuse_unsupported(form.media_ids, form.poll)
    text = form.status or ""
    spoiler_text = form.spoiler_text or ""
    _check_text(runtime, text, spoiler_text)
    visibility = (form.visibility or author.default_privacy).lower()
    if visibility not in VISIBILITIES:
        raise invalid("Visibility is not included in the list", "visibility", ERR_INCLUSION)
    language = _check_language(form.language) or author.default_language or None
    in_reply_to_id = None
    if form.in_reply_to_id is not None:
        in_reply_to_id = parse_id(form.in_reply_to_id)
        if repository.visible_status(session, in_reply_to_id, author.id) is None:
            raise NotFound(REPLY_NOT_FOUND)
    return Draft(
        text=text,
        visibility=visibility,
        spoiler_text=spoiler_text,
        sensitive=_sensitive(form.sensitive, spoiler_text, author.default_sensitive),
        language=language,
        in_reply_to_id=in_reply_to_id,
        application_id=application_id,
    )


# Detection reads the words only: links, mentions and hashtags say nothing of the language.
_NOT_WORDS = re.compile(r"(?:https?://\S+|(?<![\w/])[@#][\w.@-]+)")


def _detect_language(runtime: Runtime, text: str) -> str | None:
    return runtime.languages.detect(_NOT_WORDS.sub(" ", text))


@dataclass(frozen=True)
class Rendered:
    content: str
    mentioned: list[Account]
    tags: list[str]


def _render(session: Session, runtime: Runtime, text: str) -> Rendered:
    usernames = post_text.mentioned_usernames(text, runtime.urls.host)
    found = {a.username.lower(): a for a in repository.accounts_by_username(session, usernames)}
    mentioned = [found[name] for name in usernames if name in found]
    accounts = {name: post_text.MentionedAccount(a.id, a.username, a.url) for name, a in found.items()}
    content = post_text.content_html(text, accounts, runtime.urls.host, runtime.urls.tag)
    return Rendered(content, mentioned, post_text.hashtags(text))


def _mentions_json(mentioned: list[Account]) -> list[dict[str, str]]:
    return [{"id": str(a.id), "username": a.username, "acct": a.acct, "url": a.url} for a in mentioned]


def snapshot(status: Status, author: Account, runtime: Runtime) -> dict[str, Any]:
    urls = runtime.urls
    return {
        "id": str(status.id),
        "account_id": str(status.account_id),
        "acct": author.acct,
        "url": urls.status(author.username, status.id),
        "uri": urls.status_uri(author.username, status.id),
        "text": status.text,
        "html": status.content,
        "spoiler_text": status.spoiler_text,
        "sensitive": status.sensitive,
        "visibility": status.visibility,
        "language": status.language,
        "in_reply_to_id": str(status.in_reply_to_id) if status.in_reply_to_id is not None else None,
        "in_reply_to_account_id": (
            str(status.in_reply_to_account_id) if status.in_reply_to_account_id is not None else None
        ),
        "mentions": status.mentions,
        "tags": status.tags,
        "created_at": status.created_at,
        "edited_at": status.edited_at,
        "version": status.version,
    }


def publish(session: Session, runtime: Runtime, author: Account, draft: Draft) -> Status:
    """Creates the status, its mentions, hashtags, counts and home feed rows, and `post.published`.
    A reply whose parent is gone or hidden by now (a scheduled one) is published as a new thread.

    The author's row is locked only from the first write on: rendering and language detection
    (the CPU-bound part) run before it, so an author's posts in flight at once wait for each
    other's writes only."""
    now = datetime.now(UTC)
    parent = None
    if draft.in_reply_to_id is not None:
        parent = repository.status_by_id(session, draft.in_reply_to_id)
        if parent is not None and repository.visible_status(session, parent.id, author.id) is None:
            parent = None
    rendered = _render(session, runtime, draft.text)
    status = Status(
        id=new_id(),
        account_id=author.id,
        text=draft.text,
        content=rendered.content,
        spoiler_text=draft.spoiler_text,
        sensitive=draft.sensitive,
        visibility=draft.visibility,
        language=draft.language or _detect_language(runtime, draft.text),
        in_reply_to_id=parent.id if parent else None,
        in_reply_to_account_id=parent.account_id if parent else None,
        mentions=_mentions_json(rendered.mentioned),
        tags=rendered.tags,
        replies_count=0,
        reblogs_count=0,
        favourites_count=0,
        version=1,
        application_id=str(draft.application_id) if draft.application_id is not None else None,
        created_at=now,
        edited_at=None,
    )
    repository.lock_author(session, author.id)
    repository.add_status(session, status)
    mentioned_ids = [a.id for a in rendered.mentioned]
    repository.add_mentions(session, status.id, mentioned_ids, new=True)
    repository.set_tags(session, status.id, rendered.tags, new=True)
    if parent is not None and repository.counts_towards_replies(status.visibility):
        repository.change_replies_count(session, parent.id, +1)
    if status.visibility != "direct":
        repository.change_statuses_count(session, author.id, +1, now)
    repository.fan_out(session, status, mentioned_ids)
    events.publish(
        session,
        POST_PUBLISHED,
        StatusSnapshot(**snapshot(status, author, runtime)),
        subject=status.id,
        version=status.version,
    )
    log.info("status_published", status_id=status.id, visibility=status.visibility)
    return status


def rendered(
    session: Session, runtime: Runtime, status_id: int, viewer_id: int | None, *, with_source: bool = False
) -> dict[str, Any]:
    row = repository.visible_status(session, status_id, viewer_id)
    if row is None:
        raise NotFound()
    return status_json(row, viewer_id, runtime.urls, with_source=with_source)


def rendered_many(
    session: Session, runtime: Runtime, ids: list[int], viewer_id: int | None
) -> list[dict[str, Any]]:
    """The visible ones among `ids`, in the order asked."""
    rows = {r.id: r for r in repository.visible_statuses(session, ids, viewer_id)}
    return [status_json(rows[i], viewer_id, runtime.urls) for i in ids if i in rows]


def history(
    session: Session, runtime: Runtime, status_id: str, viewer_id: int | None
) -> list[dict[str, Any]]:
    """The StatusEdit list, original first (a status never edited: itself)."""
    row = repository.visible_status(session, parse_id(status_id), viewer_id)
    if row is None:
        raise NotFound()
    author = account_json(as_account(row), runtime.urls)
    revisions: list[StatusEdit] | list[StatusRow] = repository.edits(session, row.id) or [row]
    return [edit_json(revision, author) for revision in revisions]


def edit(session: Session, runtime: Runtime, viewer_id: int, status_id: str, form: EditForm) -> Status:
    status = repository.own_status_for_update(session, parse_id(status_id), viewer_id)
    if status is None:
        raise NotFound()
    _refuse_unsupported(form.media_ids, form.poll)
    text = form.status if form.status is not None else status.text
    spoiler_text = form.spoiler_text if form.spoiler_text is not None else status.spoiler_text
    _check_text(runtime, text, spoiler_text)
    # Mastodon's UpdateStatusService: recomputed when either is given, else kept.
    if form.sensitive is None and form.spoiler_text is None:
        sensitive = status.sensitive
    else:
        sensitive = _sensitive(form.sensitive, form.spoiler_text, False)
    language = _check_language(form.language) or status.language
    if (text, spoiler_text, sensitive, language) == (
        status.text, status.spoiler_text, status.sensitive, status.language,
    ):  # fmt: skip
        return status
    now = datetime.now(UTC)
    if not repository.edits(session, status.id):
        repository.add_edit(session, status, status.created_at)  # the original, at the first edit
    rendered_text = _render(session, runtime, text)
    status.text, status.spoiler_text, status.sensitive, status.language = (
        text,
        spoiler_text,
        sensitive,
        language,
    )
    status.content = rendered_text.content
    status.mentions = _mentions_json(rendered_text.mentioned)
    status.tags = rendered_text.tags
    status.version += 1
    status.edited_at = now
    session.flush()
    repository.add_edit(session, status, now)
    repository.add_mentions(session, status.id, [a.id for a in rendered_text.mentioned])
    repository.set_tags(session, status.id, rendered_text.tags)
    author = repository.account(session, viewer_id)
    assert author is not None
    events.publish(
        session,
        POST_UPDATED,
        StatusSnapshot(**snapshot(status, author, runtime)),
        subject=status.id,
        version=status.version,
    )
    return status


def delete(session: Session, runtime: Runtime, viewer_id: int, status_id: str) -> dict[str, Any]:
    """Returns the deleted status as JSON with its source `text` (for delete-and-redraft)."""
    status = repository.own_status_for_update(session, parse_id(status_id), viewer_id)
    if status is None:
        raise NotFound()
    body = rendered(session, runtime, status.id, viewer_id, with_source=True)
    author = repository.account(session, viewer_id)
    assert author is not None
    repository.delete_status(session, status)
    if status.in_reply_to_id is not None and repository.counts_towards_replies(status.visibility):
        repository.change_replies_count(session, status.in_reply_to_id, -1)
    if status.visibility != "direct":
        repository.change_statuses_count(session, viewer_id, -1, None)
    gone = snapshot(status, author, runtime) | {"version": status.version + 1}
    events.publish(
        session,
        POST_DELETED,
        PostDeleted(**gone, deleted_at=datetime.now(UTC)),
        subject=status.id,
        version=status.version + 1,
    )
    log.info("status_deleted", status_id=status.id)
    return body


def source(session: Session, status_id: str, viewer_id: int | None) -> dict[str, str]:
    row = repository.visible_status(session, parse_id(status_id), viewer_id)
    if row is None:
        raise NotFound()
    return {"id": str(row.id), "text": row.text, "spoiler_text": row.spoiler_text}
