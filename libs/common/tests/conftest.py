"""Fixtures for the shared library's tests: a tiny service schema (one table a handler writes to,
plus the outbox and inbox) on SQLite and on the session's real PostgreSQL."""

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from microblog_common.db import Database
from microblog_common.events import MessagingTables


class Schema:
    def __init__(self) -> None:
        self.metadata = MetaData()
        self.messaging = MessagingTables(self.metadata)
        self.effects = Table(
            "effects",
            self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("event_id", String(36), nullable=False),
            Column("note", String(100), nullable=False),
        )


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def schema():
    return Schema()


@pytest.fixture
def db(db_url, schema):
    database = Database(db_url)
    schema.metadata.create_all(database.engine)
    yield database
    database.dispose()
