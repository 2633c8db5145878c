"""The SQLite writer: write transactions on the event loop, grouped into one commit.

A SQLite write transaction runs on the event loop itself, on the process's one write
connection: its statements are microseconds of work in memory, and only the commit, which waits
for the disk (``synchronous=FULL``), goes to the writer thread. The writes that arrive while a
SQLite transaction is open join it as savepoints of their own, and one commit makes them all
durable before any caller is answered (group commit). Handing the whole transaction to a thread,
as earlier versions did, made both threads take turns at the GIL around every statement, which
cost more CPU than the statements.

Each write begins ``IMMEDIATE`` (:mod:`.sqlite_connections`); when another process holds the
database lock, the wait for it happens on the writer thread, never on the event loop.

A quick read (``quick=True``: a few index lookups) runs on the event loop too, on a read
connection of its own, which WAL never makes wait for the writer.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import sqlalchemy as sa

from payments_platform.database.sqlite_connections import WRITE, begin_waiting, driver_connection
from payments_platform.database.work import AFTER_COMMIT, Effects, Work

T = TypeVar("T")


class _Batch:
    """Write transactions that share one SQLite transaction, and so one commit."""

    def __init__(self, transaction: sa.RootTransaction, loop: asyncio.AbstractEventLoop) -> None:
        self.transaction = transaction
        self.open = True
        self.broken: BaseException | None = None
        """Why the batch may not commit: a savepoint that could not be rolled back."""
        self.committed: asyncio.Future[None] = loop.create_future()
        self.committer: asyncio.Task[None] | None = None


class SqliteWriter:
    """SQLite transactions on the event loop: the statements there, the commit's disk wait on
    the writer thread, one commit for the transactions gathered meanwhile (group commit).

    The first write transaction to find the connection free opens a SQLite transaction; every
    write transaction that comes while it is open runs in it as a savepoint of its own (released
    when it returns, rolled back alone if it raises), until the event loop has let every task
    ready to write have its turn. Then one ``COMMIT`` makes them all durable, and each caller is
    answered only after it. Those that come during a commit wait for the next one. Under load
    the commit's ``fsync`` is shared by many requests; alone, a transaction costs what it did.

    Quick reads run beside the writes, on a read connection of their own.
    """

    _SAVEPOINT = "payments_write"

    def __init__(self, engine: sa.Engine, writer: ThreadPoolExecutor) -> None:
        self.engine = engine
        self.writer = writer
        """The writer thread: commits, and waits for another process's lock."""
        self._write_conn: sa.Connection | None = None
        self._read_conn: sa.Connection | None = None
        self._batch: _Batch | None = None
        self._busy = False
        """A SQLite transaction is being opened or committed on the write connection."""
        self._waiting: list[asyncio.Future[None]] = []

    async def write(self, work: Work[T]) -> tuple[T, Effects]:
        """Run ``work`` as a savepoint of the open batch (opening one if the connection is
        free), and return once the batch has committed."""
        loop = asyncio.get_running_loop()
        while (batch := self._batch) is None or not batch.open:
            if self._busy:
                waiter = loop.create_future()
                self._waiting.append(waiter)
                await waiter
                continue
            self._busy = True
            try:
                conn = self._write_connection()
                batch = self._batch = _Batch(await self._begin(conn), loop)
            except BaseException:
                self._busy = False
                self._wake()
                raise
            batch.committer = loop.create_task(self._commit_when_gathered(batch))
            self._wake()
            break
        conn = self._write_connection()
        driver = driver_connection(conn)
        driver.execute(f"SAVEPOINT {self._SAVEPOINT}")
        try:
            result = work(conn)
        except BaseException:
            conn.info.pop(AFTER_COMMIT, None)
            try:
                driver.execute(f"ROLLBACK TO {self._SAVEPOINT}")
                driver.execute(f"RELEASE {self._SAVEPOINT}")
            except Exception as error:
                batch.broken = error
            raise
        driver.execute(f"RELEASE {self._SAVEPOINT}")
        effects: Effects = conn.info.pop(AFTER_COMMIT, [])
        try:
            await asyncio.shield(batch.committed)
        except asyncio.CancelledError:
            # The commit goes on without this caller; what it committed is still reported.
            batch.committed.add_done_callback(lambda done: _report(done, effects))
            raise
        return result, effects

    async def _commit_when_gathered(self, batch: _Batch) -> None:
        # One turn of the event loop: every task ready to write joins the batch first.
        await asyncio.sleep(0)
        batch.open = False
        self._batch = None
        failure = batch.broken
        if failure is None:
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self.writer, batch.transaction.commit
                )
            except BaseException as error:  # every caller of the batch gets it
                failure = error
        if failure is None:
            batch.committed.set_result(None)
        else:
            # Closing the connection rolls back whatever the batch wrote.
            self._discard_write_connection()
            batch.committed.set_exception(failure)
            # Retrieved here too: if every caller was cancelled, nobody else would.
            batch.committed.exception()
        self._busy = False
        self._wake()

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)

    def _write_connection(self) -> sa.Connection:
        conn = self._write_conn
        if conn is None:
            conn = self._write_conn = self.engine.connect()
            conn.info[WRITE] = True
            # Waiting for another process's lock must not stop the event loop: the write
            # connection gives up at once, and the wait happens on the writer thread.
            driver_connection(conn).execute("PRAGMA busy_timeout=0")
        return conn

    async def _begin(self, conn: sa.Connection) -> sa.RootTransaction:
        try:
            return conn.begin()
        except sa.exc.OperationalError as error:
            if "locked" not in str(error.orig):
                raise
        # Another process writes: wait for its lock on the writer thread.
        return await asyncio.get_running_loop().run_in_executor(self.writer, begin_waiting, conn)

    def _discard_write_connection(self) -> None:
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            conn.invalidate()
            conn.close()

    def read(self, work: Work[T]) -> tuple[T, Effects]:
        """Run ``work`` in a read transaction on the event loop's read connection."""
        conn = self._read_conn
        if conn is None:
            conn = self._read_conn = self.engine.connect()
            conn.info[WRITE] = False
        try:
            with conn.begin():
                result = work(conn)
            return result, conn.info.pop(AFTER_COMMIT, [])
        finally:
            conn.info.pop(AFTER_COMMIT, None)

    async def close(self) -> None:
        """Close both connections once the commit under way has finished."""
        while self._busy:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            await waiter
        for conn in (self._write_conn, self._read_conn):
            if conn is not None:
                conn.close()
        self._write_conn = self._read_conn = None


def _report(done: asyncio.Future[None], effects: Effects) -> None:
    if not done.cancelled() and done.exception() is None:
        for effect in effects:
            effect()
