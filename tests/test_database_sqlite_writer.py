"""The SQLite writer (``database/sqlite_writer``): writes on the event loop, each a savepoint of
the SQLite transaction open, one commit for all of them (group commit), and quick reads."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import sqlalchemy as sa
from payments_platform.database import Database
from payments_platform.errors import DatabaseUnavailable

from .databases import TALLY, sqlite_only, tally

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
