"""The :class:`Database`: the engine of the configured backend, each transaction sent to where
it runs on that backend, and a database out of reach answered as ``DatabaseUnavailable``.

On SQLite a write and a quick read run on the event loop (:mod:`.sqlite_writer`), the other
reads on a reader thread and migrations on the writer thread (:mod:`.sqlite_threads`). On
PostgreSQL every transaction runs on the event loop, in one greenlet
(:mod:`.postgresql_transactions`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn

from payments_platform.database.pool_pings import ping_when_idle
from payments_platform.database.postgresql_transactions import postgresql_transaction
from payments_platform.database.schema_migrations import (
    Migration,
    check_revision,
    current_revision,
    pending_migrations,
    upgrade,
)
from payments_platform.database.sqlite_connections import prepare_sqlite
from payments_platform.database.sqlite_threads import SQLITE_READ_THREADS, thread_transaction
from payments_platform.database.sqlite_writer import SqliteWriter
from payments_platform.database.statement_spans import trace_statements
from payments_platform.database.urls import driver_url
from payments_platform.database.work import Work
from payments_platform.errors import DatabaseUnavailable
from payments_platform.telemetry import tracing_enabled

T = TypeVar("T")

logger = logging.getLogger("payments_platform.database")

_OUR_MISTAKES = (sa.exc.IntegrityError, sa.exc.DataError, sa.exc.ProgrammingError)
"""Errors of the statements themselves: bugs, which no retry mends."""
_STATEMENT_FAULTS = ("22", "23", "42")
"""SQLSTATE classes of the same (data exception, integrity constraint violation, syntax error
or access rule violation): SQLAlchemy's asyncpg adapter raises them as plain DBAPIErrors."""
_UNREACHABLE = (sa.exc.DBAPIError, sa.exc.TimeoutError, OSError)
"""The rest of what the driver raises: a database that is down, refuses connections, dropped
one, or is locked past the busy timeout."""


def _statement_fault(error: Exception) -> bool:
    """The database refused the statement itself (for its data, say), whatever the driver
    called the error: retrying it can never succeed."""
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _STATEMENT_FAULTS


class Database:
    """The engine and the transactions the use cases run in."""

    def __init__(
        self, url: str, *, pool_size: int = 10, echo: bool = False, log_failures: bool = True
    ) -> None:
        self.url = driver_url(url)
        self.log_failures = log_failures
        """Log why a transaction could not be carried out (a server does: its clients only
        hear "unavailable"; a command that reports the cause itself need not)."""
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._async_engine: AsyncEngine | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        self._reader_threads: ThreadPoolExecutor | None = None
        self._sqlite_writer: SqliteWriter | None = None
        if self.is_sqlite:
            # Every thread that may hold a connection at once gets one, and no more: the readers,
            # the writer thread (migrations), and the event loop's write and read connections.
            self.engine = sa.create_engine(
                self.url, echo=echo, pool_size=3 + SQLITE_READ_THREADS, max_overflow=0
            )
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="payments-db-writer")
            self._reader_threads = ThreadPoolExecutor(
                SQLITE_READ_THREADS, thread_name_prefix="payments-db-reader"
            )
            prepare_sqlite(self.engine)
            self._sqlite_writer = SqliteWriter(self.engine, self._writer_thread)
        else:
            # SQLAlchemy leaves transactions to asyncpg (see postgresql_transactions): set once
            # here, not on each checkout and back on each check-in.
            options: dict[str, Any] = {"echo": echo, "isolation_level": "AUTOCOMMIT"}
            if pool_size == 0:
                options.update(poolclass=NullPool)
            else:
                options.update(pool_size=pool_size, max_overflow=pool_size)
            self._async_engine = create_async_engine(self.url, **options)
            self.engine = self._async_engine.sync_engine
            ping_when_idle(self.engine)
        if tracing_enabled():
            # Untraced, the hooks would still build a no-op span and its attributes for every
            # statement: a few percent of a payment's CPU for nothing recorded.
            trace_statements(self.engine, self.url.get_backend_name())

    async def write(self, work: Work[T]) -> T:
        """Run ``work`` in a write transaction; commits on return, rolls back if it raises."""
        return await self._run(work, write=True)

    async def read(self, work: Work[T], *, quick: bool = False) -> T:
        """Run ``work`` in a read-only transaction; ``quick`` for a few index lookups, which
        SQLite then reads on the event loop, without a thread hand-off."""
        return await self._run(work, write=False, quick=quick)

    async def _run(
        self, work: Work[T], *, write: bool, foreign_keys: bool = True, quick: bool = False
    ) -> T:
        try:
            if self._sqlite_writer is not None and foreign_keys and (write or quick):
                if write:
                    result, effects = await self._sqlite_writer.write(work)
                else:
                    result, effects = self._sqlite_writer.read(work)
            elif self._async_engine is not None:
                # The whole transaction (checkout, BEGIN, work, COMMIT, check-in) in one
                # greenlet: AsyncConnection would spawn one for each step, and a task to close.
                result, effects = await greenlet_spawn(
                    postgresql_transaction, self._async_engine.sync_engine, work, write
                )
            else:
                executor = self._writer_thread if write else self._reader_threads
                if executor is None:  # pragma: no cover - set for SQLite in __init__
                    raise RuntimeError("the database is closed")
                # The thread sees this task's context: its spans and log fields are the request's.
                call = functools.partial(
                    contextvars.copy_context().run,
                    thread_transaction,
                    self.engine,
                    work,
                    write,
                    foreign_keys,
                )
                result, effects = await asyncio.get_running_loop().run_in_executor(executor, call)
        except _OUR_MISTAKES:
            raise
        except _UNREACHABLE as error:
            if _statement_fault(error):
                raise
            # Nothing of this transaction is kept. The cause stays in the log: it may name
            # hosts and users a client has no business seeing.
            if self.log_failures:
                logger.exception("database transaction failed")
            raise DatabaseUnavailable(
                "the database could not be reached; what was recorded before stands, and the"
                " request may be retried with the same ids",
                retry_after=1,
            ) from error
        for effect in effects:
            effect()
        return result

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        await self.read(lambda conn: conn.execute(sa.text("SELECT 1")), quick=True)

    @property
    def shown_url(self) -> str:
        """The URL without its password, to name the database in messages."""
        return self.url.render_as_string(hide_password=True)

    @property
    def missing_file(self) -> Path | None:
        """The SQLite file when it does not exist (opening it would create it empty)."""
        if not self.is_sqlite or self.url.database is None:
            return None
        path = Path(self.url.database).absolute()
        return None if path.exists() else path

    async def schema_revision(self) -> str | None:
        """The schema revision the database is at; None when it has none, or (SQLite) when
        its file does not exist, which is left uncreated."""
        if self.missing_file is not None:
            return None
        return await self.read(current_revision)

    async def migrate(self) -> list[Migration]:
        """Apply every pending migration; return those applied, oldest first."""
        pending = pending_migrations(await self.schema_revision())
        if pending:
            # SQLite changes a column by rebuilding its table, and dropping the old table would
            # break the foreign keys that point at it: they are checked at the end instead.
            await self._run(upgrade, write=True, foreign_keys=False)
        return pending

    async def check_schema(self) -> None:
        """Raise :class:`~.schema_migrations.SchemaOutOfDate` unless the database is at the
        latest migration."""
        check_revision(
            await self.schema_revision(), missing_file=self.missing_file, shown_url=self.shown_url
        )

    async def dispose(self) -> None:
        """Finish the transactions under way and close every pooled connection."""
        if self._async_engine is not None:
            await self._async_engine.dispose()
            return
        if self._sqlite_writer is not None:
            await self._sqlite_writer.close()
        loop = asyncio.get_running_loop()
        for executor in (self._writer_thread, self._reader_threads):
            if executor is not None:
                await loop.run_in_executor(None, executor.shutdown)
        self.engine.dispose()
