"""The Database (``database/transactions``): transactions that commit whole or not at all on
either backend, and which failures are an outage (``DatabaseUnavailable``) and which a bug."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import TALLY, postgresql_only, tally
from payments_platform.database import Database
from payments_platform.errors import DatabaseUnavailable
from payments_platform.jobs import JobKind, enqueue
from payments_platform.schema import jobs
from payments_platform.store import sql


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


async def test_writes_from_many_tasks_are_each_applied_once(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.write(TALLY.create)
        await database.write(lambda conn: conn.execute(TALLY.insert().values(n=0)))

        def increment(conn: sa.Connection) -> None:
            # Read, then write: an update would be lost if two of these interleaved.
            current = conn.execute(sa.select(TALLY.c.n).with_for_update()).scalar_one()
            conn.execute(TALLY.update().values(n=current + 1))

        await asyncio.gather(*(database.write(increment) for _ in range(200)))
        total = await database.read(lambda conn: conn.execute(sa.select(TALLY.c.n)).scalar_one())
        assert total == 200
    finally:
        await database.dispose()


# SQLite stores a NUL in text; PostgreSQL refuses it.
@postgresql_only
async def test_a_statement_refused_for_its_data_is_a_bug_not_an_outage(database_url: str) -> None:
    """Issue 19 section 5: PostgreSQL refused a NUL in a listing's filter, and the refusal was
    answered 503 database-unavailable with Retry-After, inviting retries that cannot succeed."""
    database = Database(database_url)
    try:
        with pytest.raises(sa.exc.DBAPIError, match="invalid byte sequence"):
            await database.read(
                lambda conn: conn.execute(sa.select(sa.literal("a\x00b", sa.Text))).scalar_one()
            )
        assert await database.read(lambda conn: conn.execute(sa.select(1)).scalar_one()) == 1
    finally:
        await database.dispose()


def _null_by_sqlalchemy(conn: sa.Connection) -> None:
    conn.execute(TALLY.insert().values(n=None))


def _null_on_the_driver(conn: sa.Connection) -> None:
    sql.run(conn, sql.Sql("INSERT INTO tally (n) VALUES (:n)"), n=None)


@pytest.mark.parametrize("insert", [_null_by_sqlalchemy, _null_on_the_driver])
async def test_a_row_the_schema_refuses_is_a_bug_raised_as_it_is_not_an_outage(
    database_url: str, insert: Callable[[sa.Connection], None]
) -> None:
    """A constraint the row breaks is the caller's mistake, whichever way the statement went to
    the database: answered 503 with Retry-After, it would invite retries that cannot succeed."""
    database = Database(database_url)
    try:
        await database.write(TALLY.create)
        with pytest.raises(sa.exc.IntegrityError):
            await database.write(insert)
        assert await tally(database) == []
    finally:
        await database.dispose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("log_failures", [True, False])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_database_out_of_reach_is_unavailable_and_its_cause_logged_only_if_asked(
    backend: str, log_failures: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server logs why (its clients only hear "unavailable"); a command reports the cause
    itself, and logging it too would say it twice."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'no such folder' / 'payments.db'}"
    else:
        url = f"postgresql://127.0.0.1:{_closed_port()}/payments"
    database = Database(url, pool_size=0, log_failures=log_failures)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="payments_platform.database"),
            pytest.raises(DatabaseUnavailable, match="may be retried with the same ids"),
        ):
            await database.write(lambda conn: conn.execute(sa.select(1)))
    finally:
        await database.dispose()
    logged = [r.getMessage() for r in caplog.records if r.name == "payments_platform.database"]
    assert logged == (["database transaction failed"] if log_failures else [])


_REQUEST = contextvars.ContextVar[str]("request", default="none")


@pytest.mark.parametrize("quick", [False, True])
async def test_a_read_runs_in_the_context_of_the_task_that_asked(
    database_url: str, quick: bool
) -> None:
    """A read SQLite hands to a thread still sees the task's context: its spans and log fields
    are the request's."""
    database = Database(database_url)
    try:
        _REQUEST.set("req-1")
        assert await database.read(lambda conn: _REQUEST.get(), quick=quick) == "req-1"
    finally:
        await database.dispose()
