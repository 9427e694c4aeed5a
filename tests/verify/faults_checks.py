"""What the system should hold after the faults workload (derived from `Truth` alone), what it
holds (read through the gateway as each account's client would, and the SMTP sink's mailbox), and
the differences: each check returns a list of problems, empty when it holds."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, TypeVar

import httpx

from tests.verify.faults_workload import TOKEN, Truth

NOTIFICATION_TYPES = ("follow", "mention", "favourite")
# Notify's defaults (services/notify/README.md): follow and mention emails on, favourite off.
EMAILED_BY_DEFAULT = {"follow", "mention"}
SEARCH_BATCH = 20
CONCURRENCY = 8
T = TypeVar("T")
Key = tuple[str, str, str | None]  # (type, sender, status)


async def _bounded(jobs: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(run(job) for job in jobs)))


async def _pages(
    http: httpx.AsyncClient, path: str, token: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every item of a cursor-paged list, following `Link: <...>; rel="next"`."""
    items: list[dict[str, Any]] = []
    url: str | None = path
    query: dict[str, Any] | None = params
    while url:
        response = await http.get(url, params=query, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        page = response.json()
        items.extend(page)
        url = response.links.get("next", {}).get("url") if page else None
        query = None
    return items


# -- notifications ---------------------------------------------------------------------------------


def expected_notifications(truth: Truth) -> dict[str, set[Key]]:
    """notify's README: `follow` for each follow still in place (an unfollow removes the unread
    one), `mention` for whom a status mentions and the account it replies to, `favourite` for the
    author; never for one's own action; a deleted status takes its notifications with it."""
    expected: dict[str, set[Key]] = {account: set() for account in truth.accounts}
    for (follower, followee), on in truth.follows.items():
        if on:
            expected[followee].add(("follow", follower, None))
    for status in truth.live():
        recipients = set(status.mentions) | ({status.reply_to_account} if status.reply_to_account else set())
        for recipient in recipients - {status.author}:
            expected[recipient].add(("mention", status.author, status.id))
    for account, status_id in truth.favourites:
        status = truth.statuses[status_id]
        if not status.deleted and status.author != account:
            expected[status.author].add(("favourite", account, status_id))
    return expected


async def actual_notifications(http: httpx.AsyncClient, truth: Truth) -> dict[str, Counter[Key]]:
    async def of(account_id: str) -> tuple[str, Counter[Key]]:
        items = await _pages(
            http,
            "/api/v1/notifications",
            truth.accounts[account_id].token,
            {"types[]": list(NOTIFICATION_TYPES), "limit": 80},
        )
        return account_id, Counter(
            (n["type"], n["account"]["id"], (n.get("status") or {}).get("id")) for n in items
        )

    return dict(await _bounded([lambda a=a: of(a) for a in truth.accounts]))


def notification_problems(expected: dict[str, set[Key]], actual: dict[str, Counter[Key]]) -> list[str]:
    problems = []
    for account, keys in expected.items():
        seen = actual.get(account, Counter())
        missing = keys - set(seen)
        extra = set(seen) - keys
        doubled = {k: n for k, n in seen.items() if n > 1}
        if missing or extra or doubled:
            problems.append(
                f"account {account}: {len(missing)} missing {sorted(missing, key=str)[:3]}, "
                f"{len(extra)} unexpected {sorted(extra, key=str)[:3]}, "
                f"duplicated {list(doubled.items())[:3]}"
            )
    return problems


# -- search ----------------------------------------------------------------------------------------


async def search_problems(http: httpx.AsyncClient, truth: Truth) -> list[str]:
    """Every live status found by its current token; no deleted status's and no pre-edit token
    found. Tokens are asked for `SEARCH_BATCH` at a time (any word may match, `fuzzy=false`)."""
    live = {s.token: s.id for s in truth.live()}
    gone = [s.token for s in truth.statuses.values() if s.deleted] + [
        t for s in truth.statuses.values() for t in s.old_tokens
    ]
    reader = next(iter(truth.accounts.values())).token
    tokens = list(live) + gone

    async def query(batch: list[str]) -> dict[str, set[str]]:
        response = await http.get(
            "/api/v2/search",
            params={"q": " ".join(batch), "type": "statuses", "fuzzy": "false", "limit": 40},
            headers={"Authorization": f"Bearer {reader}"},
        )
        response.raise_for_status()
        found: dict[str, set[str]] = {}
        for hit in response.json()["statuses"]:
            for token in TOKEN.findall(hit["content"]):
                found.setdefault(token, set()).add(hit["id"])
        return found

    batches = [tokens[i : i + SEARCH_BATCH] for i in range(0, len(tokens), SEARCH_BATCH)]
    found: dict[str, set[str]] = {}
    for part in await _bounded([lambda b=b: query(b) for b in batches]):
        for token, ids in part.items():
            found.setdefault(token, set()).update(ids)
    missing = [t for t, sid in live.items() if found.get(t) != {sid}]
    stale = [t for t in gone if t in found]
    problems = []
    if missing:
        problems.append(
            f"search: {len(missing)} of {len(live)} live statuses not found by their text, e.g. {missing[:3]}"
        )
    if stale:
        problems.append(f"search: {len(stale)} deleted or pre-edit texts still found, e.g. {stale[:3]}")
    return problems


# -- home feeds ------------------------------------------------------------------------------------


async def home_feed_problems(http: httpx.AsyncClient, truth: Truth) -> list[str]:
    """posts' README: a home feed holds the reader's own statuses and those of whom they follow
    (an unfollow removes the followee's), never a deleted one. Replies are compared by the part of
    the rule that doesn't depend on when the reader followed whom: a reply in the feed is live and
    by the reader or someone they follow, and the reader's own replies are all there."""

    async def of(account_id: str) -> list[str]:
        items = await _pages(http, "/api/v1/timelines/home", truth.accounts[account_id].token, {"limit": 40})
        ids = [item["id"] for item in items]
        authors = truth.following(account_id) | {account_id}
        expected = {
            s.id for s in truth.live() if s.author in authors and (not s.is_reply or s.author == account_id)
        }
        held = Counter(ids)
        problems = []
        unknown = [i for i in held if i not in truth.statuses]
        doubled = [i for i, n in held.items() if n > 1]
        missing = expected - set(held)
        wrong = [
            i for i in held
            if i in truth.statuses
            and (truth.statuses[i].deleted or truth.statuses[i].author not in authors)
        ]  # fmt: skip
        extra_top = [
            i for i in held if i in truth.statuses and not truth.statuses[i].is_reply and i not in expected
        ]
        if unknown or doubled or missing or wrong or extra_top:
            problems.append(
                f"home of {account_id}: {len(missing)} missing {sorted(missing)[:3]}, {len(wrong)} not "
                f"allowed {wrong[:3]}, {len(extra_top)} unexpected {extra_top[:3]}, {len(doubled)} "
                f"twice, {len(unknown)} never acknowledged {unknown[:3]}"
            )
        return problems

    return [p for part in await _bounded([lambda a=a: of(a) for a in truth.accounts]) for p in part]


# -- email -----------------------------------------------------------------------------------------


def _kind(message: EmailMessage) -> str:
    # notify's Message-ID: <email id>.<kind>@host, the same for every attempt of one email.
    return str(message["Message-ID"]).strip("<>").split("@", 1)[0].split(".", 1)[1]


def email_problems(
    messages: list[EmailMessage], truth: Truth, expected: dict[str, set[Key]], sender_kills: int = 0
) -> tuple[list[str], int]:
    """Welcome: exactly one per registered account. Activity (digests: how many depends on how
    notifications arrive in time, so their number is not derived): every account with a follow or
    mention notification still standing got that kind of email (on by default), and nobody got a
    favourite email (off by default). No message twice, but for the one in flight each time the
    sender was SIGKILLed (`sender_kills`): SMTP has no idempotency key, so a message the server
    took just before the kill, its outcome unrecorded, goes again with the same `Message-ID`
    (notify's README; mail clients fold such repeats). Returns the problems and the repeats."""
    problems = []
    ids = Counter(str(m["Message-ID"]) for m in messages)
    doubled = {i: n for i, n in ids.items() if n > 1}
    repeats = sum(n - 1 for n in doubled.values())
    if repeats > sender_kills:
        problems.append(
            f"email: {repeats} repeated messages after {sender_kills} sender kills: {list(doubled)[:3]}"
        )
    by_address: dict[str, Counter[str]] = {}
    for message in {str(m["Message-ID"]): m for m in messages}.values():
        by_address.setdefault(parseaddr(str(message["To"]))[1], Counter())[_kind(message)] += 1
    for account_id, account in truth.accounts.items():
        kinds = by_address.get(account.email, Counter())
        if kinds["welcome"] != 1:
            problems.append(f"email: {account.email} got {kinds['welcome']} welcome emails")
        if kinds["favourite"]:
            problems.append(f"email: {account.email} got favourite emails, off by default")
        for kind in EMAILED_BY_DEFAULT:
            if any(k[0] == kind for k in expected[account_id]) and not kinds[kind]:
                problems.append(f"email: {account.email} has {kind} notifications but no {kind} email")
    return problems, repeats
