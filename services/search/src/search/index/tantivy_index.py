"""The embedded index: tantivy (Rust, BM25) in a folder, for `make run` and single-replica
deployments. One process writes it (the event lane); searches may run in another process, which
re-opens the index when the writer's commits change its `meta.json`.

Layout: `<dir>/<generation>/statuses`, `<dir>/<generation>/accounts`, and `<dir>/CURRENT` naming
the generation searches read (replaced atomically by `publish`).

Ranking: tantivy scores a fuzzy term query 1.0 whatever it matched, so each word is an exact
term query (BM25, boosted) OR a fuzzy one (a small constant): exact matches always rank above
matches found only through a typo. Filters score nothing (constant 0)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import tantivy

from microblog_common.ids import lowest_id_at
from search.index.base import (
    ACCOUNT_KIND,
    AccountDocument,
    AccountQuery,
    Document,
    IndexUnavailable,
    Removal,
    SearchIndex,
    StatusDocument,
    StatusHit,
    StatusQuery,
)
from search.query import Occur, TextClause

Q = tantivy.Query
MUST, SHOULD, MUST_NOT = tantivy.Occur.Must, tantivy.Occur.Should, tantivy.Occur.MustNot
CURRENT = "CURRENT"
TEXT_ANALYZER = "microblog"
KEYWORD_ANALYZER = "keyword_lower"
EXACT_BOOST = 3.0
PHRASE_BOOST = 4.0
FUZZY_SCORE = 0.5
# Account search: an exact username, a followed account, a prefix of a name, a typo.
USERNAME_SCORE = 10.0
FOLLOWED_SCORE = 5.0
PREFIX_SCORE = 2.0
ACCOUNT_CANDIDATES = 400
OPEN_VISIBILITIES = ("public", "unlisted")
# A word found in more documents than this (and a thousandth of them) is taken as spelled right:
# no typo variants are searched for it. Expanding a frequent word's variants would score a large
# share of the index for matches that rank below its own anyway.
FUZZY_MAX_DOC_FREQ = 50


def fuzzy_distance(word: str) -> int:
    """One edit for words of 4+ letters, two for 8+ (Elasticsearch's `AUTO:4,8`)."""
    return 2 if len(word) >= 8 else 1 if len(word) >= 4 else 0


def _text_analyzer() -> Any:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def _keyword_analyzer() -> Any:
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw()).filter(tantivy.Filter.lowercase()).build()


ANALYZER = _text_analyzer()


def analyze(text: str) -> list[str]:
    return list(ANALYZER.analyze(text))


def _status_schema() -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw")
    builder.add_integer_field("sort_id", indexed=True, fast=True)
    builder.add_text_field("text", tokenizer_name=TEXT_ANALYZER)
    keywords = ("account_id", "language", "tags", "visibility", "mentions", "searchable_by", "has")
    for name in (*keywords, "flags", "allowed"):
        builder.add_text_field(name, tokenizer_name="raw")
    return builder.build()


def _account_schema() -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw")
    builder.add_integer_field("sort_id", indexed=True, fast=True)
    builder.add_integer_field("followers", fast=True)
    builder.add_text_field("username", tokenizer_name=KEYWORD_ANALYZER)
    builder.add_text_field("names", tokenizer_name=TEXT_ANALYZER)
    return builder.build()


STATUS_SCHEMA = _status_schema()
ACCOUNT_SCHEMA = _account_schema()


def _open(path: Path, schema: Any) -> Any:
    path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(schema, path=str(path))
    index.register_tokenizer(TEXT_ANALYZER, _text_analyzer())
    index.register_tokenizer(KEYWORD_ANALYZER, _keyword_analyzer())
    return index


def _const(query: Any, score: float = 0.0) -> Any:
    return Q.const_score_query(query, score)


def _terms(field: str, values: Sequence[object]) -> Any:
    return Q.term_set_query(STATUS_SCHEMA, field, [str(v) for v in values])


def _term(field: str, value: object, schema: Any = STATUS_SCHEMA) -> Any:
    return Q.term_query(schema, field, str(value))


def _id_range(lower: int | None, upper: int | None) -> Any:
    """`lower <= sort_id < upper`."""
    return Q.range_query(
        STATUS_SCHEMA, "sort_id", tantivy.FieldType.Integer, lower, upper, include_upper=upper is None
    )


@dataclass
class _Generation:
    name: str
    statuses: Any
    accounts: Any
    statuses_writer: Any = None
    accounts_writer: Any = None


class _Reader:
    """A generation opened for searching, re-opened when its commits change `meta.json`."""

    def __init__(self, path: Path, schema: Any):
        self.path = path
        self.index = _open(path, schema)
        self.stamp = self._stamp()

    def _stamp(self) -> int:
        try:
            return (self.path / "meta.json").stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def searcher(self) -> Any:
        stamp = self._stamp()
        if stamp != self.stamp:
            self.index.reload()
            self.stamp = stamp
        return self.index.searcher()


class TantivyIndex(SearchIndex):
    def __init__(self, root: Path, *, writer_heap_mb: int = 15):
        self.root = Path(root)
        self.writer_heap = writer_heap_mb * 1_000_000
        self._writers: dict[str, _Generation] = {}
        self._readers: dict[str, tuple[_Reader, _Reader]] = {}
        self._current: tuple[int, str] | None = None
        self._lock = threading.Lock()

    async def start(self) -> None:
        await anyio.to_thread.run_sync(lambda: self.root.mkdir(parents=True, exist_ok=True))

    async def close(self) -> None:
        with self._lock:
            for generation in self._writers.values():
                for writer in (generation.statuses_writer, generation.accounts_writer):
                    if writer is not None:
                        writer.wait_merging_threads()
            self._writers.clear()
            self._readers.clear()

    # -- reading ----------------------------------------------------------------------------

    def _current_name(self) -> str | None:
        pointer = self.root / CURRENT
        try:
            stamp = pointer.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if self._current is None or self._current[0] != stamp:
            self._current = (stamp, pointer.read_text().strip())
        return self._current[1]

    def _reader(self) -> tuple[_Reader, _Reader] | None:
        with self._lock:
            name = self._current_name()
            if name is None:
                return None
            if name not in self._readers:
                self._readers = {
                    name: (
                        _Reader(self.root / name / "statuses", STATUS_SCHEMA),
                        _Reader(self.root / name / "accounts", ACCOUNT_SCHEMA),
                    )
                }
            return self._readers[name]

    async def search_statuses(self, query: StatusQuery) -> list[StatusHit]:
        return await anyio.to_thread.run_sync(self._search_statuses, query)

    def search_statuses_from_thread(self, query: StatusQuery) -> list[StatusHit]:
        return self._search_statuses(query)

    def search_accounts_from_thread(self, query: AccountQuery) -> list[int]:
        return self._search_accounts(query)

    def _search_statuses(self, query: StatusQuery) -> list[StatusHit]:
        readers = self._reader()
        if readers is None:
            return []
        searcher = readers[0].searcher()
        text_query, compiled = _compile_status_query(query, searcher)
        latest = query.latest or text_query is None
        order = tantivy.Order.Asc if (latest and query.min_id is not None) else tantivy.Order.Desc
        if latest:
            found = searcher.search(
                compiled, query.limit, count=False, order_by_field="sort_id", offset=query.offset, order=order
            )
        else:
            found = searcher.search(compiled, query.limit, count=False, offset=query.offset)
        hits = found.hits
        if not hits:
            return []
        addresses = [address for _, address in hits]
        ids = searcher.fast_field_values("sort_id", addresses)
        # No highlights: the service marks the words in the text it renders (`highlight.py`).
        results = [
            StatusHit(int(i), float(score) if not latest else 0.0)
            for (score, _), i in zip(hits, ids, strict=True)
        ]
        return list(reversed(results)) if order == tantivy.Order.Asc else results

    async def search_accounts(self, query: AccountQuery) -> list[int]:
        return await anyio.to_thread.run_sync(self._search_accounts, query)

    def _search_accounts(self, query: AccountQuery) -> list[int]:
        readers = self._reader()
        if readers is None or not query.words:
            return []
        searcher = readers[1].searcher()
        compiled = _compile_account_query(query)
        found = searcher.search(compiled, max(ACCOUNT_CANDIDATES, query.offset + query.limit), count=False)
        if not found.hits:
            return []
        addresses = [address for _, address in found.hits]
        ids = searcher.fast_field_values("sort_id", addresses)
        followers = searcher.fast_field_values("followers", addresses)
        ranked = sorted(
            zip((score for score, _ in found.hits), followers, ids, strict=True),
            key=lambda t: (-round(t[0], 4), -(t[1] or 0), t[2]),
        )
        return [int(i) for _, _, i in ranked[query.offset : query.offset + query.limit]]

    # -- writing (the event lane) -----------------------------------------------------------

    def _generation(self, name: str) -> _Generation:
        generation = self._writers.get(name)
        if generation is None:
            base = self.root / name
            generation = _Generation(
                name, _open(base / "statuses", STATUS_SCHEMA), _open(base / "accounts", ACCOUNT_SCHEMA)
            )
            try:
                generation.statuses_writer = generation.statuses.writer(self.writer_heap, 1)
                generation.accounts_writer = generation.accounts.writer(self.writer_heap, 1)
            except ValueError as exc:  # another process holds the writer's lock
                raise IndexUnavailable(f"the index in {base} is being written by another process") from exc
            self._writers[name] = generation
        return generation

    async def create_generation(self, name: str) -> None:
        await anyio.to_thread.run_sync(self._create_generation, name)

    def _create_generation(self, name: str) -> None:
        with self._lock:
            generation = self._generation(name)
            for writer in (generation.statuses_writer, generation.accounts_writer):
                writer.commit()

    async def write(
        self, names: Sequence[str], documents: Sequence[Document], *, commit: bool = True
    ) -> None:
        await anyio.to_thread.run_sync(self._write, names, documents, commit)

    def _write(self, names: Sequence[str], documents: Sequence[Document], commit: bool) -> None:
        with self._lock:
            for name in names:
                generation = self._generation(name)
                # A commit covers what earlier writes left uncommitted too.
                touched = {"statuses": commit, "accounts": commit}
                for document in documents:
                    accounts = isinstance(document, AccountDocument) or (
                        isinstance(document, Removal) and document.kind == ACCOUNT_KIND
                    )
                    writer = generation.accounts_writer if accounts else generation.statuses_writer
                    touched["accounts" if accounts else "statuses"] = True
                    writer.delete_documents_by_term("id", str(document.id))
                    if isinstance(document, StatusDocument):
                        writer.add_document(_status_document(document))
                    elif isinstance(document, AccountDocument):
                        writer.add_document(_account_document(document))
                for kind, changed in touched.items():
                    if changed and commit:
                        getattr(generation, f"{kind}_writer").commit()
                        getattr(generation, kind).reload()

    async def publish(self, name: str) -> None:
        await anyio.to_thread.run_sync(self._publish, name)

    def _publish(self, name: str) -> None:
        pointer = self.root / CURRENT
        temporary = self.root / f"{CURRENT}.{name}.tmp"
        temporary.write_text(name)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, pointer)  # atomic: a search sees the old generation or the new one

    async def drop_generation(self, name: str) -> None:
        await anyio.to_thread.run_sync(self._drop, name)

    def _drop(self, name: str) -> None:
        with self._lock:
            generation = self._writers.pop(name, None)
            if generation is not None:
                for writer in (generation.statuses_writer, generation.accounts_writer):
                    writer.wait_merging_threads()
        # A reader in another process may still have it open: its mapped files stay readable.
        shutil.rmtree(self.root / name, ignore_errors=True)


def _status_document(doc: StatusDocument) -> Any:
    fields: dict[str, Any] = {
        "id": str(doc.id),
        "sort_id": doc.id,
        "text": doc.text,
        "account_id": str(doc.account_id),
        "visibility": doc.visibility,
        "language": doc.language or "",
        "tags": list(doc.tags),
        "mentions": [str(m) for m in doc.mentions],
        "searchable_by": [str(a) for a in doc.searchable_by],
        "has": list(doc.has),
        "flags": [name for name, on in (("reply", doc.is_reply), ("sensitive", doc.sensitive)) if on]
        + (["restricted"] if doc.visibility not in OPEN_VISIBILITIES else []),
        # Who may find a followers-only or direct status: its author and the accounts it mentions.
        "allowed": [str(a) for a in {doc.account_id, *doc.mentions}]
        if doc.visibility not in OPEN_VISIBILITIES
        else [],
    }
    return tantivy.Document(**{k: v for k, v in fields.items() if v != []})


def _account_document(doc: AccountDocument) -> Any:
    return tantivy.Document(
        id=str(doc.id),
        sort_id=doc.id,
        followers=doc.followers_count,
        username=doc.username,
        names=f"{doc.username} {doc.display_name}",
    )


# -- compiling queries ------------------------------------------------------------------------


def _words(tokens: list[str]) -> list[str | tuple[int, str]]:
    return list(tokens)


def _word_query(token: str, fuzzy: bool, searcher: Any = None) -> Any:
    exact = Q.boost_query(_term("text", token), EXACT_BOOST)
    distance = fuzzy_distance(token) if fuzzy else 0
    if distance and searcher is not None:
        frequent = max(FUZZY_MAX_DOC_FREQ, searcher.num_docs // 1000)
        if searcher.doc_freq("text", token) > frequent:
            distance = 0
    if not distance:
        return exact
    typo = _const(Q.fuzzy_term_query(STATUS_SCHEMA, "text", token, distance, True), FUZZY_SCORE)
    return Q.boolean_query([(SHOULD, exact), (SHOULD, typo)])


def _clause_query(clause: TextClause, fuzzy: bool, searcher: Any = None) -> Any | None:
    tokens = [t for word in clause.words for t in analyze(word)]
    if not tokens:
        return None
    if len(tokens) > 1 and clause.phrase:
        return Q.boost_query(Q.phrase_query(STATUS_SCHEMA, "text", _words(tokens)), PHRASE_BOOST)
    if len(tokens) > 1:
        return Q.boolean_query(
            [(MUST, _word_query(t, fuzzy and clause.occur is not Occur.must_not, searcher)) for t in tokens]
        )
    return _word_query(tokens[0], fuzzy and clause.occur is not Occur.must_not, searcher)


def _exact_clause(clause: TextClause) -> Any | None:
    tokens = [t for word in clause.words for t in analyze(word)]
    if not tokens:
        return None
    if len(tokens) > 1:
        return Q.phrase_query(STATUS_SCHEMA, "text", _words(tokens))
    return _term("text", tokens[0])


def _compile_status_query(query: StatusQuery, searcher: Any = None) -> tuple[Any | None, Any]:
    """(the text part, for highlights; the whole query). Filters are exclusions where they can be
    (a seek into a small posting list per candidate), never unions of large posting lists."""
    criteria = query.criteria
    subqueries: list[tuple[Any, Any]] = []
    shoulds: list[Any] = []
    musts: list[Any] = []
    for clause in criteria.clauses:
        if clause.occur is Occur.must_not:
            exact = _exact_clause(clause)
            if exact is not None:
                subqueries.append((MUST_NOT, exact))
            continue
        compiled = _clause_query(clause, query.fuzzy, searcher)
        if compiled is None:
            continue
        (musts if clause.occur is Occur.must else shoulds).append(compiled)
    text_parts = [(SHOULD, q) for q in shoulds] + [(SHOULD, q) for q in musts]
    text_query = Q.boolean_query(text_parts) if text_parts else None
    subqueries += [(MUST, q) for q in musts]
    if len(shoulds) == 1 and not musts:
        subqueries.append((MUST, shoulds[0]))  # not wrapped: tantivy can skip blocks of a lone term
    elif shoulds:
        # With required words the others only rank; without, at least one must match.
        subqueries.append((SHOULD if musts else MUST, Q.boolean_query([(SHOULD, q) for q in shoulds])))

    def restrict(q: Any) -> None:
        subqueries.append((MUST, _const(q)))

    def exclude(q: Any) -> None:
        subqueries.append((MUST_NOT, q))

    viewer = query.viewer_id
    if viewer is None:
        exclude(_term("visibility", "unlisted"))
        exclude(_term("flags", "restricted"))
    else:
        # Followers-only and direct statuses, except the viewer's own and those mentioning them.
        exclude(Q.boolean_query([(MUST, _term("flags", "restricted")), (MUST_NOT, _term("allowed", viewer))]))
        if criteria.in_library:
            restrict(_term("searchable_by", viewer))
    if query.author_ids is not None:
        restrict(_terms("account_id", query.author_ids or ["none"]))
    if query.not_author_ids:
        exclude(_terms("account_id", query.not_author_ids))
    if criteria.languages:
        restrict(_terms("language", criteria.languages))
    if criteria.not_languages:
        exclude(_terms("language", criteria.not_languages))
    lower = lowest_id_at(criteria.since) if criteria.since else None
    upper = lowest_id_at(criteria.until) if criteria.until else None
    if query.min_id is not None:
        lower = max(lower or 0, query.min_id + 1)
    if query.max_id is not None:
        upper = min(upper, query.max_id) if upper is not None else query.max_id
    if lower is not None or upper is not None:
        restrict(_id_range(lower, upper))
    for start, end in criteria.not_between:
        exclude(_id_range(lowest_id_at(start), lowest_id_at(end)))
    for flag, wanted in (("reply", criteria.is_reply), ("sensitive", criteria.is_sensitive)):
        if wanted is True:
            restrict(_term("flags", flag))
        elif wanted is False:
            exclude(_term("flags", flag))
    for value in criteria.has:
        restrict(_term("has", value))
    for value in criteria.not_has:
        exclude(_term("has", value))
    if not any(occur == MUST for occur, _ in subqueries):
        subqueries.append((MUST, _const(Q.all_query())))  # exclusions need something to exclude from
    return text_query, Q.boolean_query(subqueries)


def _compile_account_query(query: AccountQuery) -> Any:
    tokens = [t for word in query.words for t in analyze(word)]
    subqueries: list[tuple[Any, Any]] = []
    for position, token in enumerate(tokens):
        options = [(SHOULD, Q.boost_query(Q.term_query(ACCOUNT_SCHEMA, "names", token), EXACT_BOOST))]
        if position == len(tokens) - 1:  # as you type: the last word may be a prefix
            prefix = Q.regex_query(ACCOUNT_SCHEMA, "names", re.escape(token) + ".*")
            options.append((SHOULD, _const(prefix, PREFIX_SCORE)))
        distance = fuzzy_distance(token) if query.fuzzy else 0
        if distance:
            typo = Q.fuzzy_term_query(ACCOUNT_SCHEMA, "names", token, distance, True)
            options.append((SHOULD, _const(typo, FUZZY_SCORE)))
        subqueries.append((MUST, Q.boolean_query(options)))
    if not subqueries:
        return Q.empty_query()
    username = "".join(query.words).lower()
    subqueries.append((SHOULD, _const(Q.term_query(ACCOUNT_SCHEMA, "username", username), USERNAME_SCORE)))
    followed = [str(i) for i in query.followed_ids]
    if followed:
        in_followed = Q.term_set_query(ACCOUNT_SCHEMA, "id", followed)
        subqueries.append((MUST if query.only_followed else SHOULD, _const(in_followed, FOLLOWED_SCORE)))
    elif query.only_followed:
        return Q.empty_query()
    return Q.boolean_query(subqueries)
