"""Searching, as Mastodon's SearchService and AccountSearchService do it: resolving a URL or an
`@name` to what it names, statuses by relevance (or newest first) with the operators of `q` and
the filters given as parameters, accounts by name as you type (followed ones first), hashtags by
prefix with their week of use.

Who may see what (statuses): public and unlisted statuses of everyone, the viewer's own and those
that mention the viewer; never anyone else's private or direct ones; anonymous callers see public
statuses only. The index applies it, and every hit is checked again against the replica before it
is rendered, so an index that lags behind a deletion never shows what is gone.

Runs on the request's worker thread (its database session is synchronous), and so do the
index's searches (`SearchIndex.*_from_thread`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from microblog_common.errors import ServiceUnavailable, Unauthorized
from microblog_common.ids import parse_id
from microblog_common.mastodon.statuses import AccountCounts
from search import repository
from search.highlight import Marker
from search.index.base import AccountQuery, IndexUnavailable, StatusHit, StatusQuery
from search.models import Account, Status
from search.query import Criteria, parse, words_of
from search.rendering import account_json, author_json, history_start, status_json, tag_json
from search.runtime import Runtime
from search.schemas import AccountSearchParams, SearchParams

OPEN_VISIBILITIES = ("public", "unlisted")
_ACCT = re.compile(r"^@?([A-Za-z0-9_]+)(?:@([A-Za-z0-9.\-:\[\]]+))?$")
_HASHTAG = re.compile(r"^#?([^\W][\w]*)$")


def unavailable(exc: IndexUnavailable) -> ServiceUnavailable:
    return ServiceUnavailable("Search is unavailable right now; try again in a moment")


@dataclass
class Results:
    accounts: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    hashtags: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "statuses": self.statuses, "hashtags": self.hashtags}


def may_see(status: Status | repository.StatusToRender, viewer_id: int | None) -> bool:
    if viewer_id is None:
        return status.visibility == "public"
    if status.visibility in OPEN_VISIBILITIES or status.account_id == viewer_id:
        return True
    return any(str(m.get("id")) == str(viewer_id) for m in status.snapshot.get("mentions", []))


def _local_username(runtime: Runtime, q: str) -> str | None:
    """`name`, `@name` or `@name@this-host`: the local username it names (None for other hosts)."""
    match = _ACCT.match(q.strip())
    if match is None:
        return None
    domain = match.group(2)
    if domain is not None and domain.lower() != runtime.urls.host:
        return None
    return match.group(1)


def _is_acct(q: str) -> bool:
    return "@" in q and " " not in q.strip() and _ACCT.match(q.strip()) is not None


# -- rendering hits ---------------------------------------------------------------------------


def render_statuses(
    session: Session,
    runtime: Runtime,
    hits: list[StatusHit],
    viewer_id: int | None,
    marked: tuple[list[str], bool] | None = None,
) -> list[dict[str, Any]]:
    """`marked`: the words to highlight (and whether typos count) where the index gave none."""
    rows = repository.statuses_to_render(session, [h.id for h in hits], viewer_id)
    rendered: dict[int, dict[str, Any]] = {}
    marker = Marker(marked[0], fuzzy=marked[1]) if marked is not None else None
    out = []
    for hit in hits:
        row = rows.get(hit.id)
        if row is None or not may_see(row, viewer_id):
            continue  # gone since indexed, its author unknown or gone, or not the viewer's to see
        if row.account_id not in rendered:
            counts = AccountCounts(
                row.followers_count, row.following_count, row.statuses_count, row.last_status_at
            )
            rendered[row.account_id] = author_json(row.author_snapshot, counts, runtime.urls)
        highlight = hit.highlight
        if highlight is None and marker is not None:
            highlight = marker.mark(_searched_text(row.snapshot))
        out.append(status_json(row, rendered[row.account_id], runtime.urls, viewer_id, highlight))
    return out


def _searched_text(snapshot: dict[str, Any]) -> str:
    text = str(snapshot.get("text", ""))
    spoiler = str(snapshot.get("spoiler_text") or "")
    return f"{spoiler}\n{text}" if spoiler else text


def render_accounts(session: Session, runtime: Runtime, ids: list[int]) -> list[dict[str, Any]]:
    rows = repository.accounts(session, ids)
    return [account_json(rows[i], runtime.urls) for i in ids if i in rows]


# -- resolving URLs ---------------------------------------------------------------------------

_STATUS_PATHS = (
    re.compile(r"^/@([A-Za-z0-9_]+)/(\d+)$"),
    re.compile(r"^/users/([A-Za-z0-9_]+)/statuses/(\d+)$"),
)
_ACCOUNT_PATHS = (re.compile(r"^/@([A-Za-z0-9_]+)$"), re.compile(r"^/users/([A-Za-z0-9_]+)$"))


def resolve_url(session: Session, runtime: Runtime, q: str, viewer_id: int | None) -> Results | None:
    """A URL of this server's status or profile: that status or account alone (Mastodon's
    ResolveURLService, for local URLs; other servers are not federated with). None if `q` isn't
    a URL."""
    if not re.match(r"^https?://\S+$", q):
        return None
    parts = urlsplit(q)
    results = Results()
    if parts.netloc.lower() != runtime.urls.host:
        return results
    path = parts.path.rstrip("/")
    for pattern in _STATUS_PATHS:
        match = pattern.match(path)
        if match:
            status_id = parse_id(match.group(2))
            if status_id is not None:  # rendered only if it exists and the viewer may see it
                results.statuses = render_statuses(session, runtime, [StatusHit(status_id, 0.0)], viewer_id)
            return results
    for pattern in _ACCOUNT_PATHS:
        match = pattern.match(path)
        if match:
            found = repository.accounts_by_username(session, [match.group(1)])
            account = found.get(match.group(1).lower())
            if account is not None:
                results.accounts = [account_json(account, runtime.urls)]
            return results
    return results


# -- statuses ---------------------------------------------------------------------------------


def _author_ids(
    session: Session, runtime: Runtime, criteria: Criteria, params: SearchParams, viewer_id: int | None
) -> tuple[list[int] | None, list[int]]:
    """(only these authors (None: anyone; []: no one), never these)."""

    def ids_of(names: list[str]) -> list[int]:
        # `name`, `@name`, `name@this-host`; a name on another server matches no one here.
        local = [_local_username(runtime, n) for n in names if n != "me"]
        found = repository.accounts_by_username(session, [n for n in local if n])
        ids = [a.id for a in found.values()]
        if "me" in names and viewer_id is not None:
            ids.append(viewer_id)
        return ids

    allowed: set[int] | None = set(ids_of(criteria.authors)) if criteria.authors else None
    restrictions: list[int] = []
    if params.account_id is not None:
        restrictions.append(params.account_id)
    if params.author:
        author_id = parse_id(params.author)
        if author_id is None:
            names = repository.accounts_by_username(session, [params.author.lstrip("@")])
            account = names.get(params.author.lstrip("@").lower())
            author_id = account.id if account is not None else 0
        restrictions.append(author_id)
    for restriction in restrictions:
        allowed = {restriction} if allowed is None else allowed & {restriction}
    return (sorted(allowed) if allowed is not None else None), ids_of(criteria.not_authors)


def search_statuses(
    session: Session, runtime: Runtime, params: SearchParams, viewer_id: int | None, *, limit: int
) -> list[dict[str, Any]]:
    criteria = parse(params.q)
    if params.language:
        criteria.languages.append(params.language)
    if params.since:
        criteria.restrict_since(params.since)
    if params.until:
        criteria.restrict_until(params.until)
    if not criteria.clauses and not _has_filters(criteria, params):
        return []
    if criteria.in_library and viewer_id is None:
        return []
    authors, not_authors = _author_ids(session, runtime, criteria, params, viewer_id)
    query = StatusQuery(
        criteria=criteria,
        viewer_id=viewer_id,
        fuzzy=params.fuzzy,
        author_ids=authors,
        not_author_ids=not_authors,
        max_id=params.max_id,
        min_id=params.min_id,
        latest=params.latest,
        offset=params.offset,
        limit=limit,
    )
    try:
        hits = runtime.index.search_statuses_from_thread(query)
    except IndexUnavailable as exc:
        raise unavailable(exc) from exc
    return render_statuses(session, runtime, hits, viewer_id, (criteria.words(), params.fuzzy))


def _has_filters(criteria: Criteria, params: SearchParams) -> bool:
    return bool(
        criteria.authors or criteria.languages or criteria.since or criteria.until or criteria.has
        or criteria.is_reply is not None or criteria.is_sensitive is not None or criteria.in_library
        or params.account_id or params.author
    )  # fmt: skip


# -- accounts ---------------------------------------------------------------------------------


def search_accounts(
    session: Session,
    runtime: Runtime,
    q: str,
    viewer_id: int | None,
    *,
    following: bool,
    offset: int,
    limit: int,
    fuzzy: bool = True,
) -> list[dict[str, Any]]:
    text = q.strip()
    if _is_acct(text):
        username = _local_username(runtime, text)
        if username is None:
            return []  # an account of another server: not federated with
        words: tuple[str, ...] = (username,)
    else:
        words = words_of(text.lstrip("@"))
    if not words:
        return []
    followed = repository.followed_ids(session, viewer_id) if viewer_id is not None else []
    if following and viewer_id is None:
        return []
    query = AccountQuery(words, followed, only_followed=following, fuzzy=fuzzy, offset=offset, limit=limit)
    try:
        ids = runtime.index.search_accounts_from_thread(query)
    except IndexUnavailable as exc:
        raise unavailable(exc) from exc
    # An exact username comes first (what `toot` and `@name` look for), when it qualifies.
    exact = _exact_account(session, runtime, text, followed if following else None)
    if exact is not None and offset == 0:
        ids = [exact.id, *[i for i in ids if i != exact.id]][:limit]
    return render_accounts(session, runtime, ids)


def _exact_account(session: Session, runtime: Runtime, q: str, only: list[int] | None) -> Account | None:
    username = _local_username(runtime, q)
    if username is None:
        return None
    account = repository.accounts_by_username(session, [username]).get(username.lower())
    if account is None or (only is not None and account.id not in only):
        return None
    return account


# -- hashtags ---------------------------------------------------------------------------------


def search_hashtags(
    session: Session, runtime: Runtime, q: str, viewer_id: int | None, *, offset: int, limit: int
) -> list[dict[str, Any]]:
    match = _HASHTAG.match(q.strip())
    if match is None:
        return []
    prefix = match.group(1).lower()
    since = history_start()
    found = repository.tags_by_prefix(session, prefix, since, offset, limit)
    days = repository.tag_history(session, [t.name for t in found], since)
    return [tag_json(t.name, days, runtime.urls, viewer_id) for t in found]


# -- /api/v2/search ---------------------------------------------------------------------------


def search(session: Session, runtime: Runtime, params: SearchParams, viewer_id: int | None) -> Results:
    if viewer_id is None and params.offset > 0:
        raise Unauthorized("Search queries pagination is not supported without authentication")
    if viewer_id is None and params.resolve:
        raise Unauthorized(
            "Search queries that resolve remote resources are not supported without authentication"
        )
    if not params.q:
        return Results()
    resolved = resolve_url(session, runtime, params.q, viewer_id)
    if resolved is not None:
        return resolved
    wanted = (params.type,) if params.type else ("accounts", "hashtags", "statuses")
    results = Results()
    if "accounts" in wanted:
        results.accounts = search_accounts(
            session, runtime, params.q, viewer_id,
            following=params.following, offset=params.offset, limit=params.limit, fuzzy=params.fuzzy,
        )  # fmt: skip
    if "hashtags" in wanted:
        results.hashtags = search_hashtags(
            session, runtime, params.q, viewer_id, offset=params.offset, limit=params.limit
        )
    # `@name` names an account; Mastodon doesn't search statuses for it.
    if "statuses" in wanted and not _is_acct(params.q):
        results.statuses = search_statuses(session, runtime, params, viewer_id, limit=params.limit)
    return results


def account_search(
    session: Session, runtime: Runtime, params: AccountSearchParams, viewer_id: int
) -> list[dict[str, Any]]:
    if not params.q:
        return []
    return search_accounts(
        session,
        runtime,
        params.q,
        viewer_id,
        following=params.following,
        offset=params.offset,
        limit=params.limit,
    )
