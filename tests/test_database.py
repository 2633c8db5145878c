"""The database layer: URLs it takes, and transactions that commit whole or not at all."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
import sqlalchemy as sa
from payments_platform import database as database_module
from payments_platform.database import Database, driver_url
from payments_platform.jobs import JobKind, enqueue
from payments_platform.schema import jobs

from .databases import admin_dsn


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///payments.db", "sqlite+pysqlite:///payments.db"),
        ("sqlite+aiosqlite:///payments.db", "sqlite+pysqlite:///payments.db"),
        ("postgresql://db.internal/payments", "postgresql+asyncpg://db.internal/payments"),
        ("postgresql+asyncpg://db.internal/p", "postgresql+asyncpg://db.internal/p"),
    ],
)
def test_a_url_gets_the_driver_the_platform_uses(given: str, used: str) -> None:
    assert driver_url(given).render_as_string() == used


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("mysql://db.internal/payments", "not supported: use sqlite or postgresql"),
        ("postgresql+psycopg2://db.internal/p", "driver 'psycopg2' is not supported"),
        ("sqlite://", "in-memory SQLite database would lose every payment"),
        ("sqlite:///:memory:", "in-memory SQLite database would lose every payment"),
    ],
)
def test_other_backends_and_drivers_are_refused(given: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        driver_url(given)


def _count_jobs(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one())


async def test_a_transaction_that_raises_leaves_nothing_behind(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.migrate()

        def half_done(conn: sa.Connection) -> None:
            enqueue(conn, JobKind.EXPIRE, uuid.uuid4(), now=datetime.now(UTC), max_attempts=1)
            assert _count_jobs(conn) == 1
            raise RuntimeError("the rest failed")

        with pytest.raises(RuntimeError, match="the rest failed"):
            await database.write(half_done)
        assert await database.read(_count_jobs) == 0
    finally:
        await database.dispose()


_TALLY = sa.Table("tally", sa.MetaData(), sa.Column("n", sa.Integer, nullable=False))


async def test_writes_from_many_tasks_are_each_applied_once(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.write(_TALLY.create)
        await database.write(lambda conn: conn.execute(_TALLY.insert().values(n=0)))

        def increment(conn: sa.Connection) -> None:
            # Read, then write: an update would be lost if two of these interleaved.
            current = conn.execute(sa.select(_TALLY.c.n).with_for_update()).scalar_one()
            conn.execute(_TALLY.update().values(n=current + 1))

        await asyncio.gather(*(database.write(increment) for _ in range(200)))
        total = await database.read(lambda conn: conn.execute(sa.select(_TALLY.c.n)).scalar_one())
        assert total == 200
    finally:
        await database.dispose()


async def test_a_pooled_connection_dropped_while_idle_is_replaced_before_use(
    backend: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no server to drop a connection")
    monkeypatch.setattr(database_module, "POOL_PING_IDLE_SECONDS", 0.0)
    database = Database(database_url)
    try:
        backend_pid = await database.read(
            lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        )
        admin = await asyncpg.connect(admin_dsn())
        try:
            # Returns once the backend has gone (PostgreSQL 14 and later).
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", backend_pid)
        finally:
            await admin.close()
        # The pooled connection is dead; the transaction gets a live one instead of failing.
        answer = await database.read(
            lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        )
        assert answer != backend_pid
    finally:
        await database.dispose()
