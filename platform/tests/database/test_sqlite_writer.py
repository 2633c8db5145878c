"""The SQLite writer (``database/sqlite_writer``): writes on the event loop, each a savepoint of
the SQLite transaction open, one commit for all of them (group commit), and quick reads."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import sqlalchemy as sa
from databases import TALLY, sqlite_only, tally
from payments_platform.database import Database, after_commit
from payments_platform.errors import DatabaseUnavailable

pytestmark = sqlite_only


@pytest.fixture
async def sqlite_tally(database_url: str) -> AsyncIterator[Database]:
    """A SQLite database holding an empty tally table."""
    database = Database(database_url)
    try:
        await database.write(TALLY.create)
        yield database
    finally:
        await database.dispose()


def _insert(n: int) -> Callable[[sa.Connection], int]:
    return lambda conn: conn.execute(TALLY.insert().values(n=n)).rowcount


async def test_writes_that_come_together_share_one_durable_commit(sqlite_tally: Database) -> None:
    database = sqlite_tally
    commits: list[int] = []
    sa.event.listen(database.engine, "commit", lambda conn: commits.append(1))

    assert await asyncio.gather(*(database.write(_insert(n)) for n in range(20))) == [1] * 20
    # Every caller was answered after a commit; one fsync carried all of them.
    assert len(commits) == 1
    assert await tally(database) == list(range(20))


async def test_a_write_that_fails_in_a_group_is_rolled_back_alone(sqlite_tally: Database) -> None:
    database = sqlite_tally

    def insert(n: int) -> Callable[[sa.Connection], None]:
        def work(conn: sa.Connection) -> None:
            conn.execute(TALLY.insert().values(n=n))
            conn.execute(TALLY.insert().values(n=n + 100))
            if n == 2:
                raise RuntimeError("the second half failed")

        return work

    answers = await asyncio.gather(
        *(database.write(insert(n)) for n in range(5)), return_exceptions=True
    )
    assert [type(answer).__name__ for answer in answers] == [
        "NoneType", "NoneType", "RuntimeError", "NoneType", "NoneType",
    ]  # fmt: skip
    assert await tally(database) == [0, 1, 3, 4, 100, 101, 103, 104]


async def test_a_write_cancelled_while_its_group_commits_is_still_committed(
    sqlite_tally: Database,
) -> None:
    database = sqlite_tally
    ran = asyncio.Event()

    def insert(conn: sa.Connection) -> None:
        conn.execute(TALLY.insert().values(n=7))
        ran.set()

    task = asyncio.create_task(database.write(insert))
    await ran.wait()
    task.cancel()  # the caller went away; what it wrote is in the commit under way
    with pytest.raises(asyncio.CancelledError):
        await task
    # The next write waits for that commit to end before it opens a transaction of its own.
    await database.write(lambda conn: conn.execute(TALLY.insert().values(n=8)))
    assert await tally(database) == [7, 8]


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
            database.write(lambda conn: conn.execute(TALLY.insert().values(n=1)))
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
    assert await tally(database) == [0, 1]


@contextlib.contextmanager
def _failing_commits(database: Database, count: int = 1) -> Iterator[None]:
    """The next ``count`` commits fail as a full disk would fail them."""
    failing = [True] * count

    def disk_full(conn: sa.Connection) -> None:
        if failing.pop() if failing else False:
            raise sa.exc.OperationalError("COMMIT", {}, sqlite3.OperationalError("disk is full"))

    sa.event.listen(database.engine, "commit", disk_full)
    try:
        yield
    finally:
        sa.event.remove(database.engine, "commit", disk_full)


async def test_when_a_group_commit_fails_every_write_in_it_fails_and_none_is_kept(
    sqlite_tally: Database,
) -> None:
    database = sqlite_tally
    with _failing_commits(database):
        answers = await asyncio.gather(
            *(database.write(_insert(n)) for n in range(5)), return_exceptions=True
        )
    # Nobody is told their write was kept: it was not.
    assert [type(answer) for answer in answers] == [DatabaseUnavailable] * 5
    assert await tally(database) == []
    # The connection the failed commit left behind is replaced.
    await database.write(_insert(9))
    assert await tally(database) == [9]


def _insert_reporting(n: int, reported: list[int]) -> Callable[[sa.Connection], None]:
    def work(conn: sa.Connection) -> None:
        conn.execute(TALLY.insert().values(n=n))
        after_commit(conn, lambda: reported.append(n))
        if n == 2:
            raise RuntimeError("the second half failed")

    return work


async def test_only_the_writes_that_stand_in_a_group_report_what_they_did(
    sqlite_tally: Database,
) -> None:
    database = sqlite_tally
    reported: list[int] = []
    answers = await asyncio.gather(
        *(database.write(_insert_reporting(n, reported)) for n in range(5)),
        return_exceptions=True,
    )
    assert [type(answer).__name__ for answer in answers].count("RuntimeError") == 1
    assert sorted(reported) == [0, 1, 3, 4]
    assert await tally(database) == [0, 1, 3, 4]


@pytest.mark.parametrize(("commit_fails", "reported"), [(False, [7]), (True, [])])
async def test_a_write_cancelled_while_its_group_commits_reports_only_what_committed(
    sqlite_tally: Database, commit_fails: bool, reported: list[int]
) -> None:
    """Its caller went away, but what it committed still happened, and is logged and counted;
    what did not commit is not."""
    database = sqlite_tally
    effects: list[int] = []
    ran = asyncio.Event()

    def insert(conn: sa.Connection) -> None:
        conn.execute(TALLY.insert().values(n=7))
        after_commit(conn, lambda: effects.append(7))
        ran.set()

    with _failing_commits(database, count=1 if commit_fails else 0):
        task = asyncio.create_task(database.write(insert))
        await ran.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await database.write(_insert(8))  # once the cancelled write's commit has ended
    assert effects == reported
    assert await tally(database) == [*reported, 8]


@contextlib.contextmanager
def _held_commit(database: Database) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Hold the next commit on the writer thread: yields the event set when it has started and
    the one that lets it go on."""
    started, go_on = threading.Event(), threading.Event()
    holding = [True]

    def hold(conn: sa.Connection) -> None:
        if holding:
            holding.clear()
            started.set()
            assert go_on.wait(30)

    sa.event.listen(database.engine, "commit", hold)
    try:
        yield started, go_on
    finally:
        go_on.set()
        sa.event.remove(database.engine, "commit", hold)


async def _until(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 30)


async def test_a_write_that_comes_during_a_commit_waits_for_the_next_commit(
    sqlite_tally: Database,
) -> None:
    database = sqlite_tally
    commits: list[int] = []
    sa.event.listen(database.engine, "commit", lambda conn: commits.append(1))
    second_ran = asyncio.Event()

    def second(conn: sa.Connection) -> None:
        conn.execute(TALLY.insert().values(n=2))
        second_ran.set()

    with _held_commit(database) as (committing, go_on):
        first = asyncio.create_task(database.write(_insert(1)))
        await _until(committing)
        later = asyncio.create_task(database.write(second))
        for _ in range(5):
            await asyncio.sleep(0)
        # It did not join the transaction being committed, nor start one beside it.
        assert not second_ran.is_set()
        go_on.set()
        await asyncio.wait_for(asyncio.gather(first, later), 10)
    assert len(commits) == 2
    assert await tally(database) == [1, 2]


async def test_a_quick_read_sees_a_write_only_once_it_has_committed(
    sqlite_tally: Database,
) -> None:
    """The quick read's connection is not the write connection, which sees what is written
    before it commits (and may yet be rolled back)."""
    database = sqlite_tally

    async def quick_tally() -> list[int]:
        return await database.read(
            lambda conn: list(conn.execute(sa.select(TALLY.c.n)).scalars()), quick=True
        )

    with _held_commit(database) as (committing, go_on):
        write = asyncio.create_task(database.write(_insert(7)))
        await _until(committing)
        assert await quick_tally() == []
        go_on.set()
        await asyncio.wait_for(write, 10)
    assert await quick_tally() == [7]


async def test_closing_the_database_waits_for_the_commit_under_way(database_url: str) -> None:
    database = Database(database_url)
    await database.write(TALLY.create)
    with _held_commit(database) as (committing, go_on):
        write = asyncio.create_task(database.write(_insert(7)))
        await _until(committing)
        closing = asyncio.create_task(database.dispose())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not closing.done()
        go_on.set()
        await asyncio.wait_for(asyncio.gather(write, closing), 10)
    reopened = Database(database_url)
    try:
        assert await tally(reopened) == [7]
    finally:
        await reopened.dispose()
