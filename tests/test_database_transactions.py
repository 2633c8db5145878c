"""The Database (``database/transactions``): transactions that commit whole or not at all on
either backend, and which failures are an outage (``DatabaseUnavailable``) and which a bug."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from payments_platform.database import Database
from payments_platform.jobs import JobKind, enqueue
from payments_platform.schema import jobs

from .databases import TALLY, postgresql_only


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
