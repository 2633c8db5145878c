"""The database layer: URLs it takes, and transactions that commit whole or not at all."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import asyncpg
import pytest
import sqlalchemy as sa
from payments_platform.database import SQLITE_READ_THREADS, Database, driver_url, pool_pings
from payments_platform.errors import DatabaseUnavailable
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


# SQLite has no server to drop a connection.
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_pooled_connection_dropped_while_idle_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_pings, "POOL_PING_IDLE_SECONDS", 0.0)
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


# SQLite stores a NUL in text; PostgreSQL refuses it.
@pytest.mark.parametrize("backend", ["postgresql"])
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


sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])
"""SQLite's own write path: statements on the event loop, grouped commits."""


@pytest.fixture
async def sqlite_tally(database_url: str) -> AsyncIterator[Database]:
    """A SQLite database holding an empty tally table."""
    database = Database(database_url)
    try:
        await database.write(_TALLY.create)
        yield database
    finally:
        await database.dispose()


async def _tally(database: Database) -> list[int]:
    return list(
        await database.read(
            lambda conn: conn.execute(sa.select(_TALLY.c.n).order_by(_TALLY.c.n)).scalars().all()
        )
    )


@sqlite_only
async def test_writes_that_come_together_share_one_durable_commit(sqlite_tally: Database) -> None:
    database = sqlite_tally
    commits: list[int] = []
    sa.event.listen(database.engine, "commit", lambda conn: commits.append(1))

    def insert(n: int) -> Callable[[sa.Connection], int]:
        return lambda conn: conn.execute(_TALLY.insert().values(n=n)).rowcount

    assert await asyncio.gather(*(database.write(insert(n)) for n in range(20))) == [1] * 20
    # Every caller was answered after a commit; one fsync carried all of them.
    assert len(commits) == 1
    assert await _tally(database) == list(range(20))


@sqlite_only
async def test_a_write_that_fails_in_a_group_is_rolled_back_alone(sqlite_tally: Database) -> None:
    database = sqlite_tally

    def insert(n: int) -> Callable[[sa.Connection], None]:
        def work(conn: sa.Connection) -> None:
            conn.execute(_TALLY.insert().values(n=n))
            conn.execute(_TALLY.insert().values(n=n + 100))
            if n == 2:
                raise RuntimeError("the second half failed")

        return work

    answers = await asyncio.gather(
        *(database.write(insert(n)) for n in range(5)), return_exceptions=True
    )
    assert [type(answer).__name__ for answer in answers] == [
        "NoneType", "NoneType", "RuntimeError", "NoneType", "NoneType",
    ]  # fmt: skip
    assert await _tally(database) == [0, 1, 3, 4, 100, 101, 103, 104]


@sqlite_only
async def test_a_write_cancelled_while_its_group_commits_is_still_committed(
    sqlite_tally: Database,
) -> None:
    database = sqlite_tally
    ran = asyncio.Event()

    def insert(conn: sa.Connection) -> None:
        conn.execute(_TALLY.insert().values(n=7))
        ran.set()

    task = asyncio.create_task(database.write(insert))
    await ran.wait()
    task.cancel()  # the caller went away; what it wrote is in the commit under way
    with pytest.raises(asyncio.CancelledError):
        await task
    # The next write waits for that commit to end before it opens a transaction of its own.
    await database.write(lambda conn: conn.execute(_TALLY.insert().values(n=8)))
    assert await _tally(database) == [7, 8]


@sqlite_only
async def test_a_write_waits_for_another_process_lock_without_stopping_the_event_loop(
    sqlite_tally: Database,
) -> None:
    database = sqlite_tally
    path = database.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # as another server process writing
        write = asyncio.create_task(
            database.write(lambda conn: conn.execute(_TALLY.insert().values(n=1)))
        )
        loop = asyncio.get_running_loop()
        longest_stall = 0.0
        for _ in range(20):
            before = loop.time()
            await asyncio.sleep(0.01)
            longest_stall = max(longest_stall, loop.time() - before)
        # Waiting on the event loop would stall it for the whole busy timeout (30 s); the
        # bound only separates that from a loop that kept running.
        assert longest_stall < 5.0
        assert not write.done()
        other.execute("INSERT INTO tally (n) VALUES (0)")
        other.execute("COMMIT")
    finally:
        other.close()
    await asyncio.wait_for(write, 10)
    assert await _tally(database) == [0, 1]


@sqlite_only
async def test_when_a_group_commit_fails_every_write_in_it_fails_and_none_is_kept(
    sqlite_tally: Database,
) -> None:
    database = sqlite_tally
    failing = [True]

    def disk_full(conn: sa.Connection) -> None:
        if failing.pop() if failing else False:
            raise sa.exc.OperationalError("COMMIT", {}, sqlite3.OperationalError("disk is full"))

    sa.event.listen(database.engine, "commit", disk_full)

    def insert(n: int) -> Callable[[sa.Connection], object]:
        return lambda conn: conn.execute(_TALLY.insert().values(n=n))

    answers = await asyncio.gather(
        *(database.write(insert(n)) for n in range(5)), return_exceptions=True
    )
    # Nobody is told their write was kept: it was not.
    assert [type(answer) for answer in answers] == [DatabaseUnavailable] * 5
    assert await _tally(database) == []
    # The connection the failed commit left behind is replaced.
    await database.write(insert(9))
    assert await _tally(database) == [9]


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
        await database.write(_TALLY.create)  # the event loop's write connection
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
