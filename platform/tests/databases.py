"""Test databases on both backends: a SQLite file per test, a PostgreSQL database per test.

PostgreSQL databases are cloned from a template migrated once per test run, so each test gets
an empty, current schema in milliseconds and nothing leaks between tests or runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
import sqlalchemy as sa
from payments_platform.database import Database, driver_url

# Not PAYMENTS_*: the servers tests start would read those as config overrides, and refuse them.
POSTGRES_URL_VARIABLE = "TEST_POSTGRES_URL"
BACKENDS_VARIABLE = "TEST_DATABASE_BACKENDS"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])
"""A test of SQLite's own ways (its write path, its connections): SQLite alone."""
postgresql_only = pytest.mark.parametrize("backend", ["postgresql"])
"""A test of PostgreSQL's own ways (its transactions, its pool): PostgreSQL alone."""

TALLY = sa.Table("tally", sa.MetaData(), sa.Column("n", sa.Integer, nullable=False))
"""A table of numbers, for tests of transactions rather than of payments."""


async def tally(database: Database) -> list[int]:
    """The numbers in :data:`TALLY`, in order."""
    return list(
        await database.read(
            lambda conn: conn.execute(sa.select(TALLY.c.n).order_by(TALLY.c.n)).scalars().all()
        )
    )


def another_process_may_write(path: os.PathLike[str] | str) -> bool:
    """Whether another process could take the write lock of the SQLite file ``path`` now."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        return False
    else:
        other.execute("ROLLBACK")
        return True
    finally:
        other.close()


def backends() -> list[str]:
    """The backends tests run on: both, unless ``TEST_DATABASE_BACKENDS`` narrows them."""
    chosen = os.environ.get(BACKENDS_VARIABLE, "sqlite,postgresql")
    return [name.strip() for name in chosen.split(",") if name.strip()]


def admin_dsn() -> str:
    url = driver_url(os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _url_for(database: str) -> str:
    url = driver_url(os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL))
    return url.set(database=database).render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(admin_dsn())
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def postgres_template() -> Iterator[str]:
    """Create and migrate a template database for this run; drop it afterwards."""
    name = f"payments_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f"CREATE DATABASE {_quoted(name)}"))
    try:
        asyncio.run(_migrate(_url_for(name)))
        yield name
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)"))


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await database.migrate()
    finally:
        await database.dispose()


@contextlib.contextmanager
def postgres_database(template: str) -> Iterator[str]:
    """A fresh database cloned from the migrated template; its URL."""
    name = f"payments_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE DATABASE {_quoted(name)} TEMPLATE {_quoted(template)}"))
    try:
        yield _url_for(name)
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)"))


def sqlite_url(path: os.PathLike[str] | str) -> str:
    """The URL of a SQLite file."""
    return str(sa.URL.create("sqlite", database=str(path)))
