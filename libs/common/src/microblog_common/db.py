"""SQLAlchemy 2 engines for PostgreSQL (psycopg2) and SQLite, and the unit of work.

Routes get a session through `SessionDep`: the unit of work commits when the route function
returns and rolls back when it raises, before the response is sent. Service code flushes, never
commits, so a state change and its outbox event share one transaction.

Routes that only read say so with `ReadSessionDep`: a session on the read engine, whose
connections are in autocommit, so a page costs its queries and no BEGIN/COMMIT round trips.

No pool pre-ping (a `SELECT 1` round trip on every checkout): pooled connections are recycled
after `DB_POOL_RECYCLE_SECONDS` instead, and a request that meets a connection the server dropped
(a database restart) gets a clean 503; the pool is then refilled with fresh connections.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, Engine, NullPool, TypeDecorator, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_POOL_RECYCLE_SECONDS = 1800


def create_db_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pooled: bool = True,
    pool_recycle: int = DEFAULT_POOL_RECYCLE_SECONDS,
    autocommit: bool = False,
) -> Engine:
    """`pooled=False`: a connection per use (NullPool), e.g. for a probe that must not wait on
    the pool. `autocommit`: every connection in autocommit (the read engine: no transaction
    round trips)."""
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **options,
            **({} if pooled else {"poolclass": NullPool}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            _use_wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if not pooled:
        return create_engine(url, poolclass=NullPool, **options)
    return create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=pool_recycle, **options
    )


def _use_wal(cur: Any) -> None:
    """WAL, set once per database file. Switching needs the file to itself, and SQLite answers
    "database is locked" at once (no busy wait) while the service's other pools open their first
    connections to a new file: check first, and retry the switch briefly."""
    deadline = time.monotonic() + 10
    while True:
        cur.execute("PRAGMA journal_mode")
        if str(cur.fetchone()[0]).lower() == "wal":
            return
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out on both backends (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Database:
    """One engine and session factory per service. Created in the lifespan, disposed at shutdown."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_recycle: int = DEFAULT_POOL_RECYCLE_SECONDS,
        read_pool_size: int | None = None,
    ):
        self.url = url
        self.engine = create_db_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=pool_recycle
        )
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Reads: their own pool of autocommit connections (no isolation level switched back and
        # forth on checkout), created on first use.
        self._read_pool_size = read_pool_size if read_pool_size is not None else pool_size
        self._max_overflow = max_overflow
        self._pool_recycle = pool_recycle
        self._read_engine: Engine | None = None
        self._read_sessionmaker: sessionmaker[Session] | None = None
        self._after_commit: list[Callable[[Session], None]] = []
        self._ping_engine: Engine | None = None

        @event.listens_for(self.sessionmaker, "after_commit")
        def _run_after_commit(session: Session) -> None:
            for hook in self._after_commit:
                hook(session)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def on_commit(self, hook: Callable[[Session], None]) -> None:
        """Call `hook(session)` after every commit (used to wake the outbox relay at once)."""
        self._after_commit.append(hook)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def read_engine(self) -> Engine:
        if self._read_engine is None:  # two threads racing here build two: one is dropped
            self._read_engine = create_db_engine(
                self.url,
                autocommit=True,
                pool_size=self._read_pool_size,
                max_overflow=self._max_overflow,
                pool_recycle=self._pool_recycle,
            )
        return self._read_engine

    @contextmanager
    def read_only(self) -> Iterator[Session]:
        """A session for reads: autocommit connections, nothing to commit. A write through it
        would commit statement by statement: routes that write take `SessionDep`."""
        if self._read_sessionmaker is None:
            self._read_sessionmaker = sessionmaker(self.read_engine, expire_on_commit=False)
        session = self._read_sessionmaker()
        try:
            yield session
        finally:
            session.close()

    def ping(self) -> None:
        """Readiness: a connection of its own, never one from the pool, so a pool that requests
        have taken (a burst of sign-ins) doesn't make the service look down."""
        if self._ping_engine is None:
            self._ping_engine = create_db_engine(self.url, pooled=False)
        with self._ping_engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()
        if self._ping_engine is not None:
            self._ping_engine.dispose()


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _request_session(request: Request) -> Iterator[Session]:
    with get_database(request).unit_of_work() as session:
        yield session


async def _read_session(request: Request) -> AsyncIterator[Session]:
    """Async, though the route using it runs in a worker thread: creating the session does no I/O
    (the connection is taken at its first query), and closing it hands an autocommit connection
    back with nothing to roll back; a plain generator would cost two worker-thread hops."""
    with get_database(request).read_only() as session:
        yield session


# scope="function": commit happens when the route returns, before the response goes out, so a
# client never sees success for a write that then failed to commit.
SessionDep = Annotated[Session, Depends(_request_session, scope="function")]

# For routes that only read: no transaction, so no BEGIN/COMMIT round trips.
ReadSessionDep = Annotated[Session, Depends(_read_session, scope="function")]
