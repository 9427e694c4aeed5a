"""A synthetic social network in the posts service's database, loaded with COPY: accounts, a
follow graph, statuses (with replies, hashtags, every visibility) and the home feeds fan-out on
write would have written for them.

Skewed like a real network:
- how many accounts each one follows is log-normal around `--follows` (a few follow hundreds);
- whom they follow is preferential: popularity is Zipf-distributed (exponent 1), so a few accounts
  have thousands of followers and most have a handful;
- how much each account posts is Zipf-distributed too (exponent 0.8), independent of popularity;
- statuses are spread over the past year; 20% are replies, 30% carry a hashtag (Zipf over 500),
  visibility is 80% public, 10% unlisted, 8% followers-only, 2% direct (mentioning a follower).

The home feeds (`home_feed`) are derived in SQL with the rules of `posts.statuses.repository.fan_out`,
then the primary keys are built and the tables vacuumed and analysed.

    uv run python bench/posts_data.py --database-url postgresql://... --statuses 1000000

The database must be migrated and empty."""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg2
from sqlalchemy import JSON

from microblog_common.ids import LOW_BITS

WORDS = (
    "the a an of to in and is was for on with as at by from this that it not but be are have has "
    "people time year day way thing world life hand part place case week company system program "
    "question work government number night point home water room mother area money story fact month "
    "lot right study book eye job word business issue side kind head house service friend father "
    "power hour game line end member law car city community name president team minute idea kid body "
    "information back parent face others level office door health person art war history party result "
    "change morning reason research girl guy moment air teacher force education coffee music code"
).split()
VISIBILITY_WEIGHTS = (("public", 80), ("unlisted", 10), ("private", 8), ("direct", 2))
TAGS = 500
BATCH = 200_000


def zipf_weights(n: int, exponent: float) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, n + 1)]


def cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


class Network:
    def __init__(self, accounts: int, follows: int, seed: int):
        self.rng = random.Random(seed)
        self.accounts = accounts
        # Account ids: time-sortable like the real ones, made a year ago.
        base = int((datetime.now(UTC) - timedelta(days=400)).timestamp() * 1000) << LOW_BITS
        self.ids = [base + i * 7919 for i in range(accounts)]
        popularity = zipf_weights(accounts, 1.0)
        self.rng.shuffle(popularity)  # popularity is not the order accounts were made in
        self.popularity_cum = cumulative(popularity)
        activity = zipf_weights(accounts, 0.8)
        self.rng.shuffle(activity)
        self.activity_cum = cumulative(activity)
        self.following = self._follow_graph(follows)

    def _follow_graph(self, mean: int) -> list[list[int]]:
        sigma = 0.8
        mu = math.log(mean) - sigma**2 / 2  # so that the mean is `mean`
        graph = []
        for me in range(self.accounts):
            want = max(1, min(self.accounts - 1, int(self.rng.lognormvariate(mu, sigma))))
            chosen: set[int] = set()
            while len(chosen) < want:
                picks = self.rng.choices(range(self.accounts), cum_weights=self.popularity_cum, k=want)
                chosen.update(p for p in picks if p != me)
            graph.append(sorted(chosen)[:want] if len(chosen) > want else sorted(chosen))
        return graph

    def authors(self, k: int) -> list[int]:
        return self.rng.choices(range(self.accounts), cum_weights=self.activity_cum, k=k)


def _copy(cursor, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    count = 0
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(r"\N" if v is None else str(v) for v in row))
        buffer.write("\n")
        count += 1
        if count % BATCH == 0:
            buffer.seek(0)
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
            buffer = io.StringIO()
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
    return count


def _account_rows(net: Network, public_url: str, now: str) -> Iterator[tuple]:
    for i, account_id in enumerate(net.ids):
        name = f"user{i}"
        avatar = f"{public_url}/avatars/{account_id}.png"
        yield (
            account_id,
            name,
            name,
            f"User {i}",
            "",
            f"{public_url}/@{name}",
            avatar,
            avatar,
            f"{public_url}/avatars/header.png",
            "f",
            "f",
            "f",
            "f",
            "f",
            "[]",
            now,
            1,
        )


def _status_rows(net: Network, statuses: int, public_url: str) -> Iterator[tuple]:
    rng = net.rng
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    year_ms = 365 * 24 * 3600 * 1000
    moments = sorted(rng.randrange(now_ms - year_ms, now_ms - 60_000) for _ in range(statuses))
    authors = net.authors(statuses)
    visibilities = rng.choices(
        [v for v, _ in VISIBILITY_WEIGHTS], [w for _, w in VISIBILITY_WEIGHTS], k=statuses
    )
    tag_cum = cumulative(zipf_weights(TAGS, 1.0))
    made: list[tuple[int, int]] = []  # (id, author index)
    last_ms, seq = -1, 0
    for n in range(statuses):
        ms = moments[n]
        seq = seq + 1 if ms == last_ms else 0
        last_ms = ms
        status_id = (ms << LOW_BITS) | seq
        author = authors[n]
        visibility = visibilities[n]
        words = rng.choices(WORDS, k=rng.randint(6, 24))
        tags: list[str] = []
        if rng.random() < 0.3:
            tags = [f"tag{rng.choices(range(TAGS), cum_weights=tag_cum)[0]}"]
            words.append("#" + tags[0])
        mentions = []
        if visibility == "direct" and net.following[author]:
            target = rng.choice(net.following[author])
            mentions = [
                {
                    "id": str(net.ids[target]),
                    "username": f"user{target}",
                    "acct": f"user{target}",
                    "url": f"{public_url}/@user{target}",
                }
            ]
            words.insert(0, f"@user{target}")
        reply_to = reply_account = None
        if made and rng.random() < 0.2:
            parent_id, parent_author = made[-rng.randint(1, min(len(made), 5000))]
            reply_to, reply_account = parent_id, net.ids[parent_author]
        text = " ".join(words)
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()
        yield (
            status_id,
            net.ids[author],
            text,
            f"<p>{text}</p>",
            "",
            "f",
            visibility,
            "en",
            reply_to,
            reply_account,
            json.dumps(mentions),
            json.dumps(tags),
            moment,
            author,
            mentions,
        )
        made.append((status_id, author))


ACCOUNT_COLUMNS = (
    "id",
    "username",
    "acct",
    "display_name",
    "note",
    "url",
    "avatar",
    "avatar_static",
    "header",
    "locked",
    "bot",
    "discoverable",
    "indexable",
    "hide_collections",
    "fields",
    "created_at",
    "version",
)
STATUS_COLUMNS = (
    "id",
    "account_id",
    "text",
    "content",
    "spoiler_text",
    "sensitive",
    "visibility",
    "language",
    "in_reply_to_id",
    "in_reply_to_account_id",
    "mentions",
    "tags",
    "created_at",
)

# Fan-out on write, replayed: the author, and each active follower unless the status is direct and
# does not mention them, or a reply to someone else they neither are nor follow.
HOME_FEED_SQL = """
INSERT INTO home_feed (account_id, status_id, author_id)
SELECT s.account_id, s.id, s.account_id FROM statuses s
UNION ALL
SELECT f.account_id, s.id, s.account_id
FROM statuses s JOIN follows f ON f.target_account_id = s.account_id AND f.active
WHERE (s.visibility <> 'direct' OR EXISTS (
        SELECT 1 FROM mentions m WHERE m.status_id = s.id AND m.account_id = f.account_id))
  AND (s.in_reply_to_account_id IS NULL OR s.in_reply_to_account_id = s.account_id
       OR s.in_reply_to_account_id = f.account_id
       OR EXISTS (SELECT 1 FROM follows r WHERE r.account_id = f.account_id
                  AND r.target_account_id = s.in_reply_to_account_id AND r.active))
"""

COUNTS_SQL = """
UPDATE accounts a SET statuses_count = c.n, last_status_at = c.last
FROM (SELECT account_id, count(*) n, max(created_at) last FROM statuses WHERE visibility <> 'direct'
      GROUP BY account_id) c WHERE a.id = c.account_id;
UPDATE accounts a SET following_count = c.n
FROM (SELECT account_id, count(*) n FROM follows GROUP BY account_id) c WHERE a.id = c.account_id;
UPDATE accounts a SET followers_count = c.n
FROM (SELECT target_account_id, count(*) n FROM follows GROUP BY target_account_id) c
WHERE a.id = c.target_account_id;
UPDATE statuses s SET replies_count = c.n
FROM (SELECT in_reply_to_id, count(*) n FROM statuses WHERE in_reply_to_id IS NOT NULL
      AND visibility IN ('public', 'unlisted') GROUP BY in_reply_to_id) c WHERE s.id = c.in_reply_to_id;
"""


def generate(
    database_url: str, *, accounts: int, statuses: int, follows: int, seed: int, public_url: str
) -> dict:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - started - sum(timings.values()), 1)

    net = Network(accounts, follows, seed)
    lap("graph")
    conn = psycopg2.connect(database_url)
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("SET maintenance_work_mem = '1GB'")
    cur.execute("SELECT count(*) FROM statuses")
    if cur.fetchone()[0]:
        raise SystemExit("the database already holds statuses: use a fresh, migrated database")
    now = datetime.now(UTC).isoformat()
    _copy(cur, "accounts", ACCOUNT_COLUMNS, _account_rows(net, public_url, now))
    follow_count = _copy(
        cur,
        "follows",
        ("account_id", "target_account_id", "active", "changed_at"),
        ((net.ids[a], net.ids[b], "t", now) for a, targets in enumerate(net.following) for b in targets),
    )
    lap("accounts+follows")

    mention_rows: list[tuple[int, int]] = []
    tag_rows: list[tuple[int, str]] = []

    def statuses_only() -> Iterator[tuple]:
        for row in _status_rows(net, statuses, public_url):
            status_id, mentions, tags = row[0], row[14], json.loads(row[11])
            mention_rows.extend((status_id, int(m["id"])) for m in mentions)
            tag_rows.extend((status_id, t) for t in tags)
            yield row[:13]

    # Indexes are built after the load: much faster than maintaining them row by row.
    cur.execute("ALTER TABLE home_feed DROP CONSTRAINT home_feed_pkey")
    cur.execute(
        "DROP INDEX ix_statuses_account_id_id, ix_statuses_in_reply_to_id, ix_statuses_public_timeline"
    )
    _copy(cur, "statuses", STATUS_COLUMNS, statuses_only())
    _copy(cur, "mentions", ("status_id", "account_id", "silent"), ((s, a, "f") for s, a in mention_rows))
    _copy(cur, "tags", ("id", "name", "created_at"), ((i + 1, f"tag{i}", now) for i in range(TAGS)))
    _copy(cur, "status_tags", ("tag_id", "status_id"), ((int(t[3:]) + 1, s) for s, t in tag_rows))
    lap("statuses")
    cur.execute(HOME_FEED_SQL)
    feed_rows = cur.rowcount
    lap("home_feed")
    cur.execute("ALTER TABLE home_feed ADD PRIMARY KEY (account_id, status_id)")
    cur.execute("CREATE INDEX ix_statuses_account_id_id ON statuses (account_id, id)")
    cur.execute("CREATE INDEX ix_statuses_in_reply_to_id ON statuses (in_reply_to_id, id)")
    cur.execute(
        "CREATE INDEX ix_statuses_public_timeline ON statuses (id) WHERE visibility = 'public' AND "
        "(in_reply_to_account_id IS NULL OR in_reply_to_account_id = account_id)"
    )
    lap("indexes")
    cur.execute(COUNTS_SQL)
    conn.commit()
    lap("counts")
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE")
    lap("vacuum")
    conn.close()
    return {
        "accounts": accounts,
        "statuses": statuses,
        "follows": follow_count,
        "home_feed_rows": feed_rows,
        "seconds": timings,
    }


def _sqlite_value(column, value):
    """A value of the COPY rows as the SQLite column takes it through SQLAlchemy."""
    if value is None:
        return None
    kind = column.type.python_type if not isinstance(column.type, JSON) else dict
    if column.type.__class__.__name__ == "UTCDateTime":
        return datetime.fromisoformat(value)
    if kind is bool:
        return value == "t"
    if kind is dict:
        return json.loads(value)
    return value


def generate_sqlite(
    database_url: str, *, accounts: int, statuses: int, follows: int, seed: int, public_url: str
) -> dict:
    """The same network in a SQLite posts database (the embedded mode's), through SQLAlchemy's
    inserts rather than COPY; the home feeds and counts by the same SQL."""
    from sqlalchemy import create_engine, text

    from posts.models import Base

    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - started - sum(timings.values()), 1)

    net = Network(accounts, follows, seed)
    lap("graph")
    tables = Base.metadata.tables
    engine = create_engine(database_url)
    now = datetime.now(UTC).isoformat()

    def insert(conn, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
        cols = [tables[table].c[name] for name in columns]
        batch: list[dict] = []
        count = 0
        for row in rows:
            batch.append({c.name: _sqlite_value(c, v) for c, v in zip(cols, row, strict=True)})
            count += 1
            if len(batch) == 10_000:
                conn.execute(tables[table].insert(), batch)
                batch = []
        if batch:
            conn.execute(tables[table].insert(), batch)
        return count

    mention_rows: list[tuple[int, int]] = []
    tag_rows: list[tuple[int, str]] = []

    def statuses_only() -> Iterator[tuple]:
        for row in _status_rows(net, statuses, public_url):
            status_id, mentions, tags = row[0], row[14], json.loads(row[11])
            mention_rows.extend((status_id, int(m["id"])) for m in mentions)
            tag_rows.extend((status_id, t) for t in tags)
            yield row[:13]

    with engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM statuses")).scalar():
            raise SystemExit("the database already holds statuses: use a fresh, migrated database")
        insert(conn, "accounts", ACCOUNT_COLUMNS, _account_rows(net, public_url, now))
        follow_count = insert(
            conn,
            "follows",
            ("account_id", "target_account_id", "active", "changed_at"),
            ((net.ids[a], net.ids[b], "t", now) for a, targets in enumerate(net.following) for b in targets),
        )
        lap("accounts+follows")
        insert(conn, "statuses", STATUS_COLUMNS, statuses_only())
        insert(
            conn, "mentions", ("status_id", "account_id", "silent"), ((s, a, "f") for s, a in mention_rows)
        )
        insert(conn, "tags", ("id", "name", "created_at"), ((i + 1, f"tag{i}", now) for i in range(TAGS)))
        insert(conn, "status_tags", ("tag_id", "status_id"), ((int(t[3:]) + 1, s) for s, t in tag_rows))
        lap("statuses")
        feed_rows = conn.execute(text(HOME_FEED_SQL)).rowcount
        lap("home_feed")
        for statement in (
            COUNTS_SQL.replace("UPDATE accounts a ", "UPDATE accounts AS a ")
            .replace("UPDATE statuses s ", "UPDATE statuses AS s ")
            .split(";")
        ):
            if statement.strip():
                conn.execute(text(statement))
        lap("counts")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return {
        "accounts": accounts,
        "statuses": statuses,
        "follows": follow_count,
        "home_feed_rows": feed_rows,
        "seconds": timings,
    }


def typical_account(database_url: str) -> int:
    """An account that follows about the median number of accounts: whose feed a benchmark reads."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT account_id FROM (SELECT account_id, count(*) n FROM follows GROUP BY account_id) f "
            "ORDER BY abs(n - (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) FROM "
            "(SELECT count(*) n FROM follows GROUP BY account_id) m)), account_id LIMIT 1"
        )
        return cur.fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", required=True, help="postgresql://... of a migrated, empty posts database"
    )
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--statuses", type=int, default=1_000_000)
    parser.add_argument("--follows", type=int, default=100, help="mean number of accounts each one follows")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--public-url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    summary = generate(
        args.database_url.replace("postgresql+psycopg2://", "postgresql://"),
        accounts=args.accounts,
        statuses=args.statuses,
        follows=args.follows,
        seed=args.seed,
        public_url=args.public_url,
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
