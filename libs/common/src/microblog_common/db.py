"""SQLAlchemy 2 engines for PostgreSQL (psycopg2) and SQLite, and the unit of work.

Routes get a session through `SessionDep`: the unit of work commits when the route function
returns and rolls back when it raises, before the response is sent. Service code flushes, never
commits, so a state change and its outbox event share one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, Engine, NullPool, TypeDecorator, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker


def create_db_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10, pooled: bool = True) -> Engine:
    """`pooled=False`: a connection per use (NullPool), e.g. for a probe that must not wait on
    the pool."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **({} if pooled else {"poolclass": NullPool}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if not pooled:
        return create_engine(url, poolclass=NullPool)
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


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

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10):
        self.url = url
        self.engine = create_db_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
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

    def ping(self) -> None:
        """Readiness: a connection of its own, never one from the pool, so a pool that requests
        have taken (a burst of sign-ins) doesn't make the service look down."""
        if self._ping_engine is None:
            self._ping_engine = create_db_engine(self.url, pooled=False)
        with self._ping_engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._ping_engine is not None:
            self._ping_engine.dispose()


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _request_session(request: Request) -> Iterator[Session]:
    with get_database(request).unit_of_work() as session:
        yield session


# scope="function": commit happens when the route returns, before the response goes out, so a
# client never sees success for a write that then failed to commit.
SessionDep = Annotated[Session, Depends(_request_session, scope="function")]
