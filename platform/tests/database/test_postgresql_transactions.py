"""PostgreSQL transactions (``database/postgresql_transactions``): a write in asyncpg's own
transaction, committed or rolled back whole; a read in none; a connection never back in the pool
with a transaction open, nor after it was lost."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from databases import TALLY, postgresql_only, tally
from payments_platform.database import Database
from payments_platform.errors import DatabaseUnavailable
from payments_platform.store import sql

pytestmark = postgresql_only


def _in_transaction(conn: sa.Connection) -> bool:
    return bool(sql.asyncpg_connection(conn).is_in_transaction())


def _backend(conn: sa.Connection) -> int:
    pid: int = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    return pid


async def test_a_write_runs_in_a_transaction_and_a_read_in_none(database_url: str) -> None:
    """At READ COMMITTED a read's statements each take their own snapshot anyway: BEGIN and
    COMMIT would be two round trips for nothing."""
    database = Database(database_url)
    try:
        assert await database.write(_in_transaction)
        assert not await database.read(_in_transaction)
    finally:
        await database.dispose()


async def test_a_write_that_raises_gives_its_connection_back_with_no_transaction_open(
    database_url: str,
) -> None:
    database = Database(database_url, pool_size=1)
    try:
        await database.write(TALLY.create)

        def half_done(conn: sa.Connection) -> int:
            conn.execute(TALLY.insert().values(n=1))
            raise RuntimeError(_backend(conn))

        with pytest.raises(RuntimeError) as raised:
            await database.write(half_done)
        used = raised.value.args[0]

        def the_next(conn: sa.Connection) -> tuple[int, bool]:
            return _backend(conn), _in_transaction(conn)

        assert await database.read(the_next) == (used, False)
        assert await tally(database) == []
    finally:
        await database.dispose()


async def test_a_write_whose_connection_dies_is_unavailable_and_the_next_gets_a_live_one(
    database_url: str,
) -> None:
    database = Database(database_url, pool_size=1)
    try:
        dying = await database.read(_backend)

        def killed(conn: sa.Connection) -> None:
            sql.run(conn, sql.Sql("SELECT pg_terminate_backend(pg_backend_pid())"))

        with pytest.raises(DatabaseUnavailable):
            await database.write(killed)
        assert await database.write(_backend) != dying
    finally:
        await database.dispose()


async def test_a_write_that_raises_after_losing_its_connection_raises_its_own_error(
    database_url: str,
) -> None:
    """The rollback fails too; the caller still hears what went wrong first, and the
    connection, whatever state it is in, is not handed to the next transaction."""
    database = Database(database_url, pool_size=1)
    try:
        lost = await database.read(_backend)

        def gives_up(conn: sa.Connection) -> None:
            sql.asyncpg_connection(conn).terminate()
            raise RuntimeError("gave up")

        with pytest.raises(RuntimeError, match="gave up"):
            await database.write(gives_up)
        assert await database.write(_backend) != lost
    finally:
        await database.dispose()


async def test_commit_observers_hear_of_each_committed_write_and_nothing_else(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg commits without SQLAlchemy's knowledge: the bench counts commits this way."""
    heard: list[str] = []
    monkeypatch.setattr(
        sql, "observers", [lambda _conn, text: heard.append(text) if text == "COMMIT" else None]
    )
    database = Database(database_url)
    try:

        def fails(conn: sa.Connection) -> None:
            conn.execute(sa.select(1))
            raise RuntimeError("changed its mind")

        await database.read(lambda conn: conn.execute(sa.select(1)))
        with pytest.raises(RuntimeError):
            await database.write(fails)
        assert heard == []
        await database.write(lambda conn: conn.execute(sa.select(1)))
        assert heard == ["COMMIT"]
    finally:
        await database.dispose()
