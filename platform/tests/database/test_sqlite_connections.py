"""How SQLite connections are set up (``database/sqlite_connections``): durable commits, foreign
keys, writes that take the database lock when they begin, and the wait for another process's
lock."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import TALLY, another_process_may_write, sqlite_only, sqlite_url
from payments_platform.database import SQLITE_READ_THREADS, Database, sqlite_connections
from payments_platform.database.sqlite_connections import (
    WRITE,
    begin_waiting,
    driver_connection,
    prepare_sqlite,
)
from payments_platform.database.sqlite_threads import thread_transaction

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


@sqlite_only
@pytest.mark.parametrize(
    ("kind", "takes_the_lock"), [("write", True), ("read", False), ("quick read", False)]
)
async def test_a_write_takes_the_database_lock_as_it_begins_and_a_read_never_does(
    database_url: str, kind: str, takes_the_lock: bool
) -> None:
    """A write that began as a read and upgraded at its first change could deadlock with
    another process's; a read that took the lock would hold up every writer for nothing."""
    database = Database(database_url)
    path = database.url.database or ""
    try:
        await database.write(TALLY.create)

        def look(conn: sa.Connection) -> bool:
            conn.execute(sa.select(TALLY.c.n)).all()
            return another_process_may_write(path)

        if kind == "write":
            others_may_write = await database.write(look)
        else:
            others_may_write = await database.read(look, quick=kind == "quick read")
        assert others_may_write is not takes_the_lock
        assert another_process_may_write(path)  # and it is let go at the end
    finally:
        await database.dispose()


_PARENT = sa.Table("parent", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
_CHILD = sa.Table(
    "child",
    _PARENT.metadata,
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("parent.id"), nullable=False),
)


@sqlite_only
async def test_every_connection_refuses_a_row_that_names_a_missing_parent(
    database_url: str,
) -> None:
    """SQLite leaves foreign keys unchecked unless each connection asks."""
    database = Database(database_url)
    try:
        await database.write(_PARENT.metadata.create_all)
        orphan = _CHILD.insert().values(parent_id=1)
        with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):
            await database.write(lambda conn: conn.execute(orphan))
        with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):
            # A pooled connection, as the reader threads and migrations use.
            await asyncio.to_thread(
                thread_transaction, database.engine, lambda conn: conn.execute(orphan), True
            )
    finally:
        await database.dispose()


@contextlib.contextmanager
def _write_connection(path: Path) -> Iterator[sa.Connection]:
    """A connection set up as the event loop's write connection is: writes, no waiting."""
    engine = sa.create_engine(sqlite_url(path))
    prepare_sqlite(engine)
    try:
        with engine.connect() as conn:
            conn.info[WRITE] = True
            driver_connection(conn).execute("PRAGMA busy_timeout=0")
            yield conn
    finally:
        engine.dispose()


def _busy_timeout(conn: sa.Connection) -> int:
    timeout: int = driver_connection(conn).execute("PRAGMA busy_timeout").fetchone()[0]
    return timeout


@pytest.mark.parametrize("lock_held_past_the_timeout", [False, True])
def test_after_waiting_for_another_process_lock_the_connection_waits_no_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock_held_past_the_timeout: bool
) -> None:
    """The wait happens on the writer thread; left on, the next write on the event loop's
    connection would stop the loop for as long."""
    monkeypatch.setattr(sqlite_connections, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "payments.db"
    holder = sqlite3.connect(path, isolation_level=None)
    with _write_connection(path) as conn:
        if lock_held_past_the_timeout:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                begin_waiting(conn)
        else:
            with begin_waiting(conn):
                assert not another_process_may_write(str(path))
        assert _busy_timeout(conn) == 0
    holder.close()
