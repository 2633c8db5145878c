"""Test databases on both backends: a SQLite file per test, a PostgreSQL database per test; and
a payment's row held locked from outside the platform.

PostgreSQL databases are cloned from a template migrated once per test run, so each test gets
an empty, current schema in milliseconds and nothing leaks between tests or runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from payments_platform.database import Database, driver_url
from payments_platform.runtime import Runtime

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


class HeldRow:
    """A transaction from outside the platform holding one payment's row lock."""

    def __init__(self, connection: asyncpg.Connection, database: str) -> None:
        self.connection = connection
        self.database = database

    async def waiting(self) -> int:
        """How many other sessions of the database are waiting for a lock."""
        # Within a transaction the statistics views keep their first snapshot unless told.
        await self.connection.execute("SELECT pg_stat_clear_snapshot()")
        count: int = await self.connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            self.database,
        )
        return count


async def behind_a_held_row(
    runtime: Runtime, payment_id: uuid.UUID, calls: list[Callable[[], Coroutine[Any, Any, Any]]]
) -> list[Any]:
    """Start ``calls`` while the payment's row is locked; release it once all of them wait.

    The row lock of a claim, tested on its own (PostgreSQL, where writers run concurrently):
    every claim of a payment first locks its row (``SELECT ... FOR UPDATE``) and then changes it
    with a conditional update. The conditional update alone keeps money from moving twice, so
    tests of the end result pass without the lock; a test holds the payment's row from outside,
    lets two requests queue behind it, and checks that each one reads the row only once it holds
    it: the second then sees what the first did, and answers as a repeat instead of failing."""
    url = runtime.database.url
    connection = await asyncpg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        held = HeldRow(connection, url.database or "")
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("SELECT 1 FROM payments WHERE id = $1 FOR UPDATE", payment_id)
        tasks = [asyncio.create_task(call()) for call in calls]
        for _ in range(500):
            if await held.waiting() == len(calls):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the requests never queued behind the held row")
        await transaction.commit()
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await connection.close()
