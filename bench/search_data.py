"""A synthetic corpus in the search service's replica, loaded with COPY: accounts and statuses as
their `user.*`/`post.*` snapshots would have left them, for the search benchmark.

Text is drawn from a vocabulary of 20,000 words whose frequencies follow Zipf's law (exponent 1.1),
as words in real posts do, 6 to 30 words a status; 10% of statuses carry a link, 20% a hashtag
(Zipf over 500), 15% are replies; languages 70% English, 10% each French, Spanish and German (the
words are made up, the labels let `language:` filter); visibility 80% public, 10% unlisted, 8%
followers-only, 2% direct. Statuses are spread over the past year.

The index itself is not touched: the search service builds it from this replica (a new index
generation) when it starts, and the benchmark times that.

    uv run python bench/search_data.py --database-url postgresql://... --statuses 100000

The database must be migrated and empty."""

from __future__ import annotations

import argparse
import bisect
import io
import json
import random
import time
from datetime import UTC, datetime, timedelta

import psycopg2

from microblog_common.ids import LOW_BITS

VOCABULARY = 20_000
SYLLABLES = (
    "ka lo mi ne ru sa te vo zi pa re da fu go hi ja ku la mo nu po qu ri so tu ve wa xe yo ze".split()
)
VISIBILITIES = (("public", 80), ("unlisted", 10), ("private", 8), ("direct", 2))
LANGUAGES = (("en", 70), ("fr", 10), ("es", 10), ("de", 10))
PUBLIC_URL = "http://127.0.0.1:8000"
BATCH = 50_000


def vocabulary(rng: random.Random) -> list[str]:
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


class Picker:
    def __init__(self, items: list, weights: list[float], rng: random.Random):
        self.items, self.cum, self.rng = items, cumulative(weights), rng

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.items[bisect.bisect_left(self.cum, self.rng.random() * self.cum[-1])]


def account_snapshot(account_id: int, username: str, created: datetime) -> dict:
    avatar = f"{PUBLIC_URL}/avatars/{account_id}.png"
    return {
        "id": str(account_id), "username": username, "acct": username, "display_name": username.title(),
        "note": "", "note_text": "", "url": f"{PUBLIC_URL}/@{username}", "avatar": avatar,
        "avatar_static": avatar, "header": f"{PUBLIC_URL}/avatars/header.png", "locked": False,
        "bot": False, "discoverable": True, "indexable": True, "hide_collections": False, "fields": [],
        "default_privacy": "public", "default_sensitive": False, "created_at": created.isoformat(),
        "updated_at": created.isoformat(), "version": 1,
    }  # fmt: skip


def _copy(cur, table: str, columns: list[str], rows: list[tuple]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_field(v) for v in row) + "\n")
    buffer.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def _field(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = value if isinstance(value, str) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def generate(database_url: str, *, statuses: int, accounts: int = 10_000, seed: int = 7) -> dict:
    rng = random.Random(seed)
    words = vocabulary(rng)
    word = Picker(words, [1.0 / (r**1.1) for r in range(1, VOCABULARY + 1)], rng)
    tag = Picker([f"tag{t}" for t in range(500)], [1.0 / r for r in range(1, 501)], rng)
    visibility = Picker([v for v, _ in VISIBILITIES], [w for _, w in VISIBILITIES], rng)
    language = Picker([v for v, _ in LANGUAGES], [w for _, w in LANGUAGES], rng)
    poster = Picker(list(range(accounts)), [1.0 / (r**0.8) for r in range(1, accounts + 1)], rng)
    now = datetime.now(UTC)
    started = time.monotonic()
    account_rows = []
    account_ids, usernames = [], []
    for i in range(accounts):
        created = now - timedelta(days=400)
        account_id = (int(created.timestamp() * 1000) << LOW_BITS) + i
        username = f"{words[(i * 7919) % VOCABULARY]}{i}"
        account_ids.append(account_id)
        usernames.append(username)
        snapshot = json.dumps(account_snapshot(account_id, username, created))
        account_rows.append((account_id, username, snapshot, 1, False, 0, 0, 0, None, now.isoformat()))
    status_counts = [0] * accounts
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        _copy(
            cur, "accounts",
            ["id", "username", "snapshot", "revision", "deleted", "followers_count", "following_count",
             "statuses_count", "last_status_at", "changed_at"],
            account_rows,
        )  # fmt: skip
        year_ms = 365 * 24 * 3600 * 1000
        start_ms = int(now.timestamp() * 1000) - year_ms
        offsets = sorted(rng.randrange(year_ms) for _ in range(statuses))
        rows: list[tuple] = []
        tag_rows: list[tuple] = []
        for n, offset in enumerate(offsets):
            ms = start_ms + offset
            status_id = (ms << LOW_BITS) + (n & 0xFFFF)
            author = poster()
            status_counts[author] += 1
            text_words = [word() for _ in range(rng.randint(6, 30))]
            tags = [tag()] if rng.random() < 0.2 else []
            text = " ".join(text_words) + "".join(f" #{t}" for t in tags)
            if rng.random() < 0.1:
                text += f" https://example.com/{text_words[0]}"
            created = datetime.fromtimestamp(ms / 1000, tz=UTC)
            seen = visibility()
            reply = rng.random() < 0.15 and n > 0
            snapshot = {
                "id": str(status_id), "account_id": str(account_ids[author]), "acct": usernames[author],
                "url": f"{PUBLIC_URL}/@{usernames[author]}/{status_id}",
                "uri": f"{PUBLIC_URL}/users/{usernames[author]}/statuses/{status_id}",
                "text": text, "html": f"<p>{text}</p>", "spoiler_text": "", "sensitive": False,
                "visibility": seen, "language": language(),
                "in_reply_to_id": str(status_id - 1) if reply else None,
                "in_reply_to_account_id": str(account_ids[author]) if reply else None,
                "mentions": [], "tags": tags, "created_at": created.isoformat(), "edited_at": None,
                "version": 1,
            }  # fmt: skip
            rows.append(
                (status_id, account_ids[author], seen, json.dumps(snapshot), 1, False, now.isoformat())
            )
            if tags and seen in ("public", "unlisted"):
                tag_rows.append((tags[0], status_id, account_ids[author], created.date().isoformat()))
            if len(rows) >= BATCH:
                _copy(cur, "statuses", ["id", "account_id", "visibility", "snapshot", "revision", "deleted",
                                        "changed_at"], rows)  # fmt: skip
                rows = []
        if rows:
            _copy(cur, "statuses", ["id", "account_id", "visibility", "snapshot", "revision", "deleted",
                                    "changed_at"], rows)  # fmt: skip
        _copy(cur, "tag_uses", ["name", "status_id", "account_id", "day"], tag_rows)
        cur.execute(
            "UPDATE accounts SET statuses_count = c.n FROM (SELECT account_id, count(*) AS n FROM statuses "
            "WHERE visibility <> 'direct' GROUP BY account_id) c WHERE accounts.id = c.account_id"
        )
        cur.execute("ANALYZE")
    return {
        "statuses": statuses,
        "accounts": accounts,
        "seconds": round(time.monotonic() - started, 1),
        "words": {
            "rank_10": words[9],
            "rank_100": words[99],
            "rank_1000": words[999],
            "rank_5000": words[4999],
        },
        "busiest_author": usernames[max(range(accounts), key=lambda i: status_counts[i])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--statuses", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(generate(args.database_url, statuses=args.statuses, accounts=args.accounts), indent=2))


if __name__ == "__main__":
    main()
