"""The Elasticsearch backend, through the official async client.

Each generation is a pair of indexes (`<prefix>-statuses-<generation>`, `<prefix>-accounts-<...>`)
with explicit mappings; searches read the aliases `<prefix>-statuses` and `<prefix>-accounts`,
which `publish` moves in one atomic `_aliases` call. Documents are written with
`version_type=external` and the replica's revision, so a write older than what the index holds is
refused by Elasticsearch itself (a 409 that changes nothing), whatever order writers run in.

Text is a `standard`-analysed field with a sub-field per supported language (Elasticsearch's
built-in language analysers: stemming and stop words); a word is an exact match on the field and
its sub-fields (BM25, boosted) or a fuzzy match (a small constant score), so typos are found and
rank below exact matches. Paging by cursor uses `search_after` on the id."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from elastic_transport import AiohttpHttpNode, TransportError
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError

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
from search.index.tantivy_index import (
    EXACT_BOOST,
    FOLLOWED_SCORE,
    FUZZY_SCORE,
    PHRASE_BOOST,
    PREFIX_SCORE,
    USERNAME_SCORE,
    fuzzy_distance,
)
from search.query import Occur, TextClause, words_of
from search.settings import Settings

# Statuses' languages (ISO 639-1) with a built-in Elasticsearch analyser.
LANGUAGE_ANALYZERS = {
    "en": "english", "es": "spanish", "fr": "french", "de": "german", "it": "italian",
    "pt": "portuguese", "nl": "dutch", "ru": "russian", "ar": "arabic", "tr": "turkish",
    "sv": "swedish", "zh": "cjk", "ja": "cjk", "ko": "cjk",
}  # fmt: skip
KEYWORD = {"type": "keyword"}


def status_mappings(languages: Sequence[str]) -> dict[str, Any]:
    """`languages`: the ISO 639-1 codes that get a stemmed sub-field (`text.en`, ...)."""
    return {
        "dynamic": "strict",
        "properties": {
            "sort_id": {"type": "long"},
            "account_id": KEYWORD,
            "language": KEYWORD,
            "tags": KEYWORD,
            "visibility": KEYWORD,
            "mentions": KEYWORD,
            "searchable_by": KEYWORD,
            "has": KEYWORD,
            "is_reply": {"type": "boolean"},
            "sensitive": {"type": "boolean"},
            "created_at": {"type": "date"},
            "text": {
                "type": "text",
                "analyzer": "standard",
                "fields": {
                    code: {"type": "text", "analyzer": LANGUAGE_ANALYZERS[code]}
                    for code in sorted(set(languages) & set(LANGUAGE_ANALYZERS))
                },
            },
        },
    }


ACCOUNT_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "sort_id": {"type": "long"},
        "followers": {"type": "long"},
        "username": KEYWORD,  # lower case
        "names": {"type": "text", "analyzer": "standard"},
    },
}
_COMPAT = re.compile(r"application/vnd\.elasticsearch\+([\w.-]+)(?:;\s*compatible-with=\d+)?")
HIGHLIGHT = {"pre_tags": ["<mark>"], "post_tags": ["</mark>"], "encoder": "html"}


class PlainJsonNode(AiohttpHttpNode):
    """Sends `application/json` (and `application/x-ndjson`) where the client would send its
    compatibility media types, which OpenSearch-compatible servers refuse with 406."""

    async def perform_request(  # type: ignore[override]
        self, method: str, target: str, body: bytes | None = None, headers: Any = None, **kwargs: Any
    ) -> Any:
        if headers:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                if name in headers:
                    headers[name] = _COMPAT.sub(r"application/\1", headers[name])
        return await super().perform_request(method, target, body=body, headers=headers, **kwargs)


def _unavailable(exc: Exception) -> IndexUnavailable:
    return IndexUnavailable(f"Elasticsearch: {type(exc).__name__}: {exc}"[:500])


class ElasticsearchIndex(SearchIndex):
    def __init__(self, settings: Settings):
        self.settings = settings
        prefix = settings.elasticsearch_index_prefix
        self.statuses_alias = f"{prefix}-statuses"
        self.accounts_alias = f"{prefix}-accounts"
        self._client: AsyncElasticsearch | None = None

    @property
    def client(self) -> AsyncElasticsearch:
        if self._client is None:
            s = self.settings
            options: dict[str, Any] = {"request_timeout": s.elasticsearch_timeout_seconds, "max_retries": 1}
            if s.elasticsearch_api_key is not None:
                options["api_key"] = s.elasticsearch_api_key.get_secret_value()
            if s.elasticsearch_username is not None and s.elasticsearch_password is not None:
                options["basic_auth"] = (
                    s.elasticsearch_username,
                    s.elasticsearch_password.get_secret_value(),
                )
            if s.elasticsearch_plain_json:
                options["node_class"] = PlainJsonNode
            self._client = AsyncElasticsearch(s.elasticsearch_url, **options)
        return self._client

    async def start(self) -> None:
        return None  # the client connects on first use; the index may come up after the service

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _index_names(self, name: str) -> tuple[str, str]:
        return f"{self.statuses_alias}-{name}", f"{self.accounts_alias}-{name}"

    # -- reading ----------------------------------------------------------------------------

    async def _search(self, index: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            response = await self.client.search(index=index, **body)
        except NotFoundError:
            return []  # no generation published yet: nothing was indexed
        except (ApiError, TransportError) as exc:
            raise _unavailable(exc) from exc
        return list(response["hits"]["hits"])

    async def search_statuses(self, query: StatusQuery) -> list[StatusHit]:
        text_query, bool_query = _status_query(query)
        latest = query.latest or text_query is None
        body: dict[str, Any] = {"query": {"bool": bool_query}, "size": query.limit, "track_total_hits": False}
        ascending = latest and query.min_id is not None
        if latest:
            body["sort"] = [{"sort_id": "asc" if ascending else "desc"}]
            cursor = query.min_id if ascending else query.max_id
            if cursor is not None and query.offset == 0:
                body["search_after"] = [cursor]
            else:
                body["from"] = query.offset
        else:
            body["sort"] = [{"_score": "desc"}, {"sort_id": "desc"}]
            body["from"] = query.offset
        if text_query is not None:
            body["highlight"] = {
                **HIGHLIGHT,
                "fields": {"text": {"number_of_fragments": 0}},
                "highlight_query": text_query,
            }
        hits = await self._search(self.statuses_alias, body)
        results = [
            StatusHit(
                int(hit["_source"]["sort_id"]),
                float(hit.get("_score") or 0.0),
                (hit.get("highlight", {}).get("text") or [None])[0],
            )
            for hit in hits
        ]
        return list(reversed(results)) if ascending else results

    async def search_accounts(self, query: AccountQuery) -> list[int]:
        compiled = _account_query(query)
        if compiled is None:
            return []
        body = {
            "query": compiled,
            "sort": [{"_score": "desc"}, {"followers": "desc"}, {"sort_id": "asc"}],
            "from": query.offset,
            "size": query.limit,
            "track_total_hits": False,
        }
        return [int(hit["_source"]["sort_id"]) for hit in await self._search(self.accounts_alias, body)]

    # -- writing ----------------------------------------------------------------------------

    async def create_generation(self, name: str) -> None:
        statuses, accounts = self._index_names(name)
        settings = {
            "number_of_shards": self.settings.elasticsearch_shards,
            "number_of_replicas": self.settings.elasticsearch_replicas,
        }
        status_mapping = status_mappings(self.settings.elasticsearch_languages)
        for index, mappings in ((statuses, status_mapping), (accounts, ACCOUNT_MAPPINGS)):
            try:
                if not await self.client.indices.exists(index=index):
                    await self.client.indices.create(index=index, mappings=mappings, settings=settings)
            except ApiError as exc:
                if exc.error != "resource_already_exists_exception":
                    raise _unavailable(exc) from exc
            except TransportError as exc:
                raise _unavailable(exc) from exc

    async def write(
        self, names: Sequence[str], documents: Sequence[Document], *, commit: bool = True
    ) -> None:
        operations: list[Mapping[str, Any]] = []
        for name in names:
            statuses, accounts = self._index_names(name)
            for document in documents:
                accounts_kind = isinstance(document, AccountDocument) or (
                    isinstance(document, Removal) and document.kind == ACCOUNT_KIND
                )
                target = accounts if accounts_kind else statuses
                meta = {"_index": target, "_id": str(document.id), "version": document.revision,
                        "version_type": "external"}  # fmt: skip
                if isinstance(document, Removal):
                    operations.append({"delete": meta})
                else:
                    operations.append({"index": meta})
                    operations.append(_source(document))
        if not operations:
            if commit and names:
                await self._refresh(names)
            return
        try:
            # Refreshed at once: a status is searchable as soon as its batch is written.
            response = await self.client.bulk(operations=operations, refresh=commit)
        except (ApiError, TransportError) as exc:
            raise _unavailable(exc) from exc
        if response.get("errors"):
            for item in response["items"]:
                ((action, result),) = item.items()
                status = result.get("status", 200)
                # 409: the index holds this revision or a newer one; 404: nothing to delete.
                if status >= 300 and status != 409 and not (action == "delete" and status == 404):
                    raise IndexUnavailable(f"Elasticsearch refused a {action}: {result.get('error')}")

    async def _refresh(self, names: Sequence[str]) -> None:
        try:
            await self.client.indices.refresh(index=[i for name in names for i in self._index_names(name)])
        except (ApiError, TransportError) as exc:
            raise _unavailable(exc) from exc

    async def publish(self, name: str) -> None:
        statuses, accounts = self._index_names(name)
        actions: list[dict[str, Any]] = []
        for alias, index in ((self.statuses_alias, statuses), (self.accounts_alias, accounts)):
            holders: Any = {}
            try:
                holders = await self.client.indices.get_alias(name=alias)
            except NotFoundError:
                pass
            except (ApiError, TransportError) as exc:
                raise _unavailable(exc) from exc
            actions += [{"remove": {"index": old, "alias": alias}} for old in holders if old != index]
            actions.append({"add": {"index": index, "alias": alias}})
        try:
            await self.client.indices.update_aliases(actions=actions)
        except (ApiError, TransportError) as exc:
            raise _unavailable(exc) from exc

    async def drop_generation(self, name: str) -> None:
        for index in self._index_names(name):
            try:
                await self.client.indices.delete(index=index)
            except NotFoundError:
                pass
            except (ApiError, TransportError) as exc:
                raise _unavailable(exc) from exc


def _source(document: StatusDocument | AccountDocument) -> dict[str, Any]:
    if isinstance(document, AccountDocument):
        return {
            "sort_id": document.id,
            "followers": document.followers_count,
            "username": document.username.lower(),
            "names": f"{document.username} {document.display_name}",
        }
    return {
        "sort_id": document.id,
        "account_id": str(document.account_id),
        "language": document.language,
        "tags": list(document.tags),
        "visibility": document.visibility,
        "mentions": [str(m) for m in document.mentions],
        "searchable_by": [str(a) for a in document.searchable_by],
        "has": list(document.has),
        "is_reply": document.is_reply,
        "sensitive": document.sensitive,
        "created_at": document.created_at.isoformat(),
        "text": document.text,
    }


# -- compiling queries ------------------------------------------------------------------------

TEXT_FIELDS = ["text", "text.*"]


def _word(word: str, fuzzy: bool) -> dict[str, Any]:
    exact = {
        "multi_match": {"query": word, "fields": TEXT_FIELDS, "type": "most_fields", "boost": EXACT_BOOST}
    }
    distance = fuzzy_distance(word) if fuzzy else 0
    if not distance:
        return exact
    typo = {"match": {"text": {"query": word, "fuzziness": distance, "prefix_length": 0}}}
    return {"bool": {"should": [exact, {"constant_score": {"filter": typo, "boost": FUZZY_SCORE}}]}}


def _clause(clause: TextClause, fuzzy: bool) -> dict[str, Any]:
    text = " ".join(clause.words)
    if clause.phrase and len(clause.words) > 1:
        return {"match_phrase": {"text": {"query": text, "boost": PHRASE_BOOST}}}
    if len(clause.words) > 1:
        return {"bool": {"must": [_word(w, fuzzy) for w in clause.words]}}
    return _word(clause.words[0], fuzzy)


def _exact(clause: TextClause) -> dict[str, Any]:
    text = " ".join(clause.words)
    if len(clause.words) > 1:
        return {"match_phrase": {"text": text}}
    return {"match": {"text": text}}


def _terms(field: str, values: Sequence[object]) -> dict[str, Any]:
    return {"terms": {field: [str(v) for v in values]}}


def _range(lower: int | None, upper: int | None) -> dict[str, Any]:
    bounds: dict[str, int] = {}
    if lower is not None:
        bounds["gte"] = lower
    if upper is not None:
        bounds["lt"] = upper
    return {"range": {"sort_id": bounds}}


def _status_query(query: StatusQuery) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    criteria = query.criteria
    must: list[dict[str, Any]] = []
    should: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    filters: list[dict[str, Any]] = []
    for clause in criteria.clauses:
        if clause.occur is Occur.must_not:
            must_not.append(_exact(clause))
        else:
            (must if clause.occur is Occur.must else should).append(_clause(clause, query.fuzzy))
    text_parts = should + must
    text_query = {"bool": {"should": text_parts}} if text_parts else None
    viewer = query.viewer_id
    if viewer is None:
        filters.append({"term": {"visibility": "public"}})
    else:
        filters.append(
            {
                "bool": {
                    "should": [
                        _terms("visibility", ["public", "unlisted"]),
                        {"term": {"account_id": str(viewer)}},
                        {"term": {"mentions": str(viewer)}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
        if criteria.in_library:
            filters.append({"term": {"searchable_by": str(viewer)}})
    if query.author_ids is not None:
        filters.append(_terms("account_id", query.author_ids or ["none"]))
    if query.not_author_ids:
        must_not.append(_terms("account_id", query.not_author_ids))
    if criteria.languages:
        filters.append(_terms("language", criteria.languages))
    if criteria.not_languages:
        must_not.append(_terms("language", criteria.not_languages))
    lower = lowest_id_at(criteria.since) if criteria.since else None
    upper = lowest_id_at(criteria.until) if criteria.until else None
    if query.min_id is not None:
        lower = max(lower or 0, query.min_id + 1)
    if query.max_id is not None:
        upper = min(upper, query.max_id) if upper is not None else query.max_id
    if lower is not None or upper is not None:
        filters.append(_range(lower, upper))
    for start, end in criteria.not_between:
        must_not.append(_range(lowest_id_at(start), lowest_id_at(end)))
    for field, wanted in (("is_reply", criteria.is_reply), ("sensitive", criteria.is_sensitive)):
        if wanted is not None:
            filters.append({"term": {field: wanted}})
    filters += [{"term": {"has": value}} for value in criteria.has]
    must_not += [{"term": {"has": value}} for value in criteria.not_has]
    compiled: dict[str, Any] = {"filter": filters}
    if must:
        compiled["must"] = must
    if should:
        compiled["should"] = should
        compiled["minimum_should_match"] = 0 if must else 1
    if must_not:
        compiled["must_not"] = must_not
    return text_query, compiled


def _account_query(query: AccountQuery) -> dict[str, Any] | None:
    words = [w for word in query.words for w in words_of(word)]
    if not words:
        return None
    must: list[dict[str, Any]] = []
    for position, word in enumerate(words):
        options: list[dict[str, Any]] = [{"match": {"names": {"query": word, "boost": EXACT_BOOST}}}]
        if position == len(words) - 1:
            options.append({"constant_score": {"filter": {"prefix": {"names": word}}, "boost": PREFIX_SCORE}})
        distance = fuzzy_distance(word) if query.fuzzy else 0
        if distance:
            typo = {"match": {"names": {"query": word, "fuzziness": distance}}}
            options.append({"constant_score": {"filter": typo, "boost": FUZZY_SCORE}})
        must.append({"bool": {"should": options, "minimum_should_match": 1}})
    username = "".join(query.words).lower()
    should: list[dict[str, Any]] = [
        {"constant_score": {"filter": {"term": {"username": username}}, "boost": USERNAME_SCORE}}
    ]
    filters: list[dict[str, Any]] = []
    followed = [str(i) for i in query.followed_ids]
    if query.only_followed:
        if not followed:
            return None
        filters.append({"ids": {"values": followed}})
    elif followed:
        should.append({"constant_score": {"filter": {"ids": {"values": followed}}, "boost": FOLLOWED_SCORE}})
    return {"bool": {"must": must, "should": should, "filter": filters}}
