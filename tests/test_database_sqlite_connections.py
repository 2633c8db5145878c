"""How SQLite connections are set up (``database/sqlite_connections``): durable commits, foreign
keys, writes that take the database lock when they begin, and the wait for another process's
lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import sqlalchemy as sa
from payments_platform.database import SQLITE_READ_THREADS, Database

from .databases import TALLY, sqlite_only

SYNCHRONOUS_FULL = 2
"""``PRAGMA synchronous`` as SQLite reports FULL (NORMAL is 1)."""


@sqlite_only
async def test_every_sqlite_connection_waits_for_the_disk_before_a_commit_returns(
    database_url: str,
) -> None:
    """Guards against ``synchronous=NORMAL``: in WAL mode a commit would then be answered
    before it is on the disk, and a power cut could lose a payment a client was told was
    recorded. Every connection the store opens, whatever it serves (migrations, the write
    connection, the quick reads, each pooled read), runs in WAL with ``synchronous=FULL``."""
    database = Database(database_url)
    opened: list[sqlite3.Connection] = []
    sa.event.listen(database.engine, "connect", lambda dbapi, _record: opened.append(dbapi))
    try:
        await database.migrate()  # on the writer thread
        await database.write(TALLY.create)  # the event loop's write connection
        await database.read(lambda conn: conn.execute(sa.text("SELECT 1")), quick=True)
        # Every reader thread at once, so that each holds a pooled connection of its own.
        together = threading.Barrier(SQLITE_READ_THREADS)

        def hold(conn: sa.Connection) -> None:
            conn.execute(sa.text("SELECT 1"))
            together.wait(timeout=30)

        await asyncio.gather(*(database.read(hold) for _ in range(SQLITE_READ_THREADS)))

        # The readers, and the write and quick-read connections the event loop keeps open.
        assert len(opened) >= SQLITE_READ_THREADS + 2
        modes = [_durability(connection) for connection in opened]
        assert modes == [("wal", SYNCHRONOUS_FULL)] * len(opened)
    finally:
        await database.dispose()


def _durability(connection: sqlite3.Connection) -> tuple[str, int]:
    """The journal mode and the ``synchronous`` level a SQLite connection runs with."""
    journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
    return journal, synchronous
