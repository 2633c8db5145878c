"""A transaction's effects (``database/work``): run once it has committed, in the order they
were registered, and never when it rolls back, on either backend and whichever way it ran."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
import sqlalchemy as sa
from databases import TALLY
from payments_platform.database import Database, after_commit


def _seen_elsewhere(database: Database) -> list[int]:
    """The numbers another connection finds in the tally: what has committed (blocking)."""
    if database.is_sqlite:
        with contextlib.closing(sqlite3.connect(database.url.database or "")) as other:
            return [n for (n,) in other.execute("SELECT n FROM tally ORDER BY n")]
    dsn = database.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def fetch() -> list[int]:
        other = await asyncpg.connect(dsn)
        try:
            return [row["n"] for row in await other.fetch("SELECT n FROM tally ORDER BY n")]
        finally:
            await other.close()

    found: list[int] = []
    # The test's own event loop is busy running the effect: another thread runs the query.
    thread = threading.Thread(target=lambda: found.extend(asyncio.run(fetch())))
    thread.start()
    thread.join(30)
    return found


async def test_a_writes_effects_run_after_its_commit_in_the_order_registered(
    database_url: str,
) -> None:
    database = Database(database_url)
    ran: list[tuple[str, list[int]]] = []
    try:
        await database.write(TALLY.create)

        def insert(conn: sa.Connection) -> str:
            conn.execute(TALLY.insert().values(n=5))
            after_commit(conn, lambda: ran.append(("first", _seen_elsewhere(database))))
            after_commit(conn, lambda: ran.append(("second", _seen_elsewhere(database))))
            assert ran == []
            return "written"

        assert await database.write(insert) == "written"
        # Each effect found the row already committed, as anyone else would.
        assert ran == [("first", [5]), ("second", [5])]
    finally:
        await database.dispose()


Run = Callable[[Database, Callable[[sa.Connection], object]], Awaitable[object]]


async def _write(database: Database, work: Callable[[sa.Connection], object]) -> object:
    return await database.write(work)


async def _read(database: Database, work: Callable[[sa.Connection], object]) -> object:
    return await database.read(work)


async def _quick_read(database: Database, work: Callable[[sa.Connection], object]) -> object:
    return await database.read(work, quick=True)


@pytest.mark.parametrize("run", [_write, _read, _quick_read])
async def test_the_effects_of_a_transaction_that_raises_never_run_not_even_with_the_next(
    database_url: str, run: Run
) -> None:
    """The next transaction may get the same connection: what the failed one registered must
    not be left on it for the next commit to run."""
    database = Database(database_url, pool_size=1)
    ran: list[str] = []
    try:

        def fails(conn: sa.Connection) -> None:
            conn.execute(sa.select(1))
            after_commit(conn, lambda: ran.append("of the failed one"))
            raise RuntimeError("changed its mind")

        def succeeds(conn: sa.Connection) -> None:
            conn.execute(sa.select(1))
            after_commit(conn, lambda: ran.append("of the next one"))

        for _ in range(3):
            with pytest.raises(RuntimeError, match="changed its mind"):
                await run(database, fails)
        assert ran == []
        await run(database, succeeds)
        assert ran == ["of the next one"]
    finally:
        await database.dispose()
