"""What an index backend does, and the documents and queries both backends share.

Documents are written per generation (a whole index: statuses and accounts), each with its
`revision` (the external version: an older write never replaces a newer one). Searches read the
current generation; `publish` switches them to another one at once, so a rebuild is never seen
half done."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from anyio import from_thread

from search.query import Criteria

STATUS_KIND = "status"
ACCOUNT_KIND = "account"


class IndexUnavailable(Exception):
    """The index can't be reached or refused the request: searches answer 503, writes are retried."""


@dataclass(frozen=True)
class StatusDocument:
    id: int
    account_id: int
    text: str  # the words searched: the content warning and the text as typed
    language: str | None
    tags: tuple[str, ...]
    visibility: str
    mentions: tuple[int, ...]
    # Mastodon's `searchable_by`: the author, the accounts mentioned and who favourited it.
    searchable_by: tuple[int, ...]
    is_reply: bool
    sensitive: bool
    has: tuple[str, ...]
    created_at: datetime
    revision: int


@dataclass(frozen=True)
class AccountDocument:
    id: int
    username: str
    display_name: str
    followers_count: int
    revision: int


@dataclass(frozen=True)
class Removal:
    kind: str
    id: int
    revision: int


Document = StatusDocument | AccountDocument | Removal


@dataclass
class StatusQuery:
    criteria: Criteria
    viewer_id: int | None
    fuzzy: bool = True
    # Resolved from `from:`, `author` and `account_id`: None means anyone; [] means no one.
    author_ids: list[int] | None = None
    not_author_ids: list[int] = field(default_factory=list)
    max_id: int | None = None
    min_id: int | None = None
    latest: bool = False
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True)
class StatusHit:
    id: int
    score: float
    # The matched words marked with <mark>, in the text as typed (HTML-escaped): an extension.
    highlight: str | None = None


@dataclass
class AccountQuery:
    words: tuple[str, ...]
    # The viewer's followees: ranked first, or the only ones with `following=true`.
    followed_ids: list[int]
    only_followed: bool = False
    fuzzy: bool = True
    offset: int = 0
    limit: int = 40


class SearchIndex(ABC):
    """Searches run in the API process; writes in the event lane (`indexing/indexer.py`).

    A request's worker thread searches through `*_from_thread`: by default on the event loop
    (an asynchronous client); a backend that searches synchronously does it in the calling thread,
    without the two thread hops, which cost more than the search itself on a busy machine."""

    def search_statuses_from_thread(self, query: StatusQuery) -> list[StatusHit]:
        return from_thread.run(self.search_statuses, query)

    def search_accounts_from_thread(self, query: AccountQuery) -> list[int]:
        return from_thread.run(self.search_accounts, query)

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def search_statuses(self, query: StatusQuery) -> list[StatusHit]: ...

    @abstractmethod
    async def search_accounts(self, query: AccountQuery) -> list[int]: ...

    @abstractmethod
    async def create_generation(self, name: str) -> None:
        """An empty index for the generation (nothing happens if it exists)."""

    @abstractmethod
    async def write(
        self, names: Sequence[str], documents: Sequence[Document], *, commit: bool = True
    ) -> None:
        """Applies the documents to each generation named, or raises IndexUnavailable. With
        `commit`, everything written so far is durable and searchable when this returns; without,
        it may not be until a later commit (a build commits every so many documents)."""

    @abstractmethod
    async def publish(self, name: str) -> None:
        """Searches read this generation from now on."""

    @abstractmethod
    async def drop_generation(self, name: str) -> None: ...
