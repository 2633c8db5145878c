"""The database: engines, short transactions and migrations.

SQLite (file, WAL) is the embedded default, PostgreSQL the production backend; the same code
runs on both. A transaction is a plain function of a synchronous :class:`sqlalchemy.Connection`
handed to :meth:`Database.write` or :meth:`Database.read`, so it cannot await anything (a
gateway call, say) while it holds locks.

* On SQLite a write transaction runs on the event loop itself, on the process's one write
  connection: its statements are microseconds of work in memory, and only the commit, which waits
  for the disk (``synchronous=FULL``), goes to the writer thread. The writes that arrive while a
  SQLite transaction is open join it as savepoints of their own, and one commit makes them all
  durable before any caller is answered (:class:`_InlineSqlite`). Handing the whole transaction to
  a thread, as earlier versions did, made both threads take turns at the GIL around every
  statement, which cost more CPU than the statements. Each write starts with ``BEGIN IMMEDIATE``
  so that writers in other processes queue on the database lock instead of deadlocking when a read
  upgrades to a write; when another process holds that lock, the wait for it happens on the writer
  thread, never on the event loop. A quick read (``quick=True``: a few index lookups) runs on the
  event loop too, on a read connection of its own, which WAL never makes wait for the writer;
  other reads run on a small pool of threads.
* On PostgreSQL it runs on the event loop in one greenlet (SQLAlchemy's ``greenlet_spawn``),
  inside a transaction asyncpg itself opens for a write; a read runs without one, since at READ
  COMMITTED every statement takes its own snapshot anyway.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from opentelemetry import trace
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn

from payments_platform.errors import DatabaseUnavailable
from payments_platform.store import sql
from payments_platform.telemetry import tracing_enabled

T = TypeVar("T")
Work = Callable[[sa.Connection], T]
"""A transaction's body: runs with the connection, returns what the caller awaits."""

_WRITE = "payments_write_transaction"
_AFTER_COMMIT = "payments_after_commit"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_READ_THREADS = 4
POOL_PING_IDLE_SECONDS = 5.0
"""A pooled PostgreSQL connection unused for longer is pinged before a transaction gets it."""
_CHECKED_IN_AT = "payments_checked_in_at"


logger = logging.getLogger(__name__)

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


def after_commit(conn: sa.Connection, effect: Callable[[], None]) -> None:
    """Run ``effect`` once the transaction ``conn`` is in has committed; never if it rolls back.

    What is logged and counted then describes what was committed, not what was tried. Effects
    run on the event loop, in the order they were registered.
    """
    conn.info.setdefault(_AFTER_COMMIT, []).append(effect)


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this version needs."""


@dataclass(frozen=True)
class Migration:
    """One schema revision: its id and what it does."""

    revision: str
    description: str


# ``sqlite+aiosqlite`` is what earlier versions wrote in configs; it names the same database.
_DRIVERS = {"sqlite": "pysqlite", "postgresql": "asyncpg"}
_ACCEPTED = {"sqlite": {"pysqlite", "aiosqlite"}, "postgresql": {"asyncpg"}}


def driver_url(url: str) -> sa.URL:
    """The URL with the driver the platform uses for its backend.

    ``postgresql://host/db`` becomes ``postgresql+asyncpg://host/db``; ``sqlite:///x.db`` (and
    ``sqlite+aiosqlite:///x.db``) becomes ``sqlite+pysqlite:///x.db``. Other backends and drivers
    are refused.
    """
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    driver = _DRIVERS.get(backend)
    if driver is None:
        raise ValueError(f"database {backend!r} is not supported: use sqlite or postgresql")
    named = parsed.get_driver_name() if "+" in parsed.drivername else None
    if named is not None and named not in _ACCEPTED[backend]:
        raise ValueError(f"driver {named!r} is not supported for {backend}: leave it out")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError("an in-memory SQLite database would lose every payment: name a file")
    return parsed.set(drivername=f"{backend}+{driver}")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "payments_platform:migrations")
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The schema revision this version needs."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("no migrations are installed")
    return head


def pending_migrations(current: str | None) -> list[Migration]:
    """The migrations that take a schema at revision ``current`` (None: none at all) to the
    head, oldest first; a revision this version does not know is :class:`SchemaOutOfDate`."""
    scripts = _scripts()
    if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        raise SchemaOutOfDate(
            f"the database is at schema revision {current}, which this version does not know"
            f" (it needs {head_revision()}): a newer version of the platform migrated it"
        )
    steps = scripts.iterate_revisions("heads", current or "base")
    return [
        Migration(step.revision, (step.doc or "").strip().rstrip("."))
        for step in reversed(list(steps))
    ]


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
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._inline: _InlineSqlite | None = None
        if self.is_sqlite:
            # Every thread that may hold a connection at once gets one, and no more: the readers,
            # the writer thread (migrations), and the event loop's write and read connections.
            self.engine = sa.create_engine(
                self.url, echo=echo, pool_size=3 + SQLITE_READ_THREADS, max_overflow=0
            )
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="payments-db-writer")
            self._readers = ThreadPoolExecutor(
                SQLITE_READ_THREADS, thread_name_prefix="payments-db-reader"
            )
            _prepare_sqlite(self.engine)
            self._inline = _InlineSqlite(self.engine, self._writer)
        else:
            # SQLAlchemy leaves transactions to asyncpg (see _pg_transaction): set once here, not
            # on each checkout and back on each check-in.
            options: dict[str, Any] = {"echo": echo, "isolation_level": "AUTOCOMMIT"}
            if pool_size == 0:
                options.update(poolclass=NullPool)
            else:
                options.update(pool_size=pool_size, max_overflow=pool_size)
            self._async_engine = create_async_engine(self.url, **options)
            self.engine = self._async_engine.sync_engine
            _ping_when_idle(self.engine)
        if tracing_enabled():
            # Untraced, the hooks would still build a no-op span and its attributes for every
            # statement: a few percent of a payment's CPU for nothing recorded.
            _trace_statements(self.engine, self.url.get_backend_name())

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
            if self._inline is not None and foreign_keys and (write or quick):
                if write:
                    result, effects = await self._inline.write(work)
                else:
                    result, effects = self._inline.read(work)
            elif self._async_engine is not None:
                # The whole transaction (checkout, BEGIN, work, COMMIT, check-in) in one
                # greenlet: AsyncConnection would spawn one for each step, and a task to close.
                result, effects = await greenlet_spawn(
                    _pg_transaction, self._async_engine.sync_engine, work, write
                )
            else:
                executor = self._writer if write else self._readers
                if executor is None:  # pragma: no cover - set for SQLite in __init__
                    raise RuntimeError("the database is closed")
                # The thread sees this task's context: its spans and log fields are the request's.
                call = functools.partial(
                    contextvars.copy_context().run,
                    _transaction,
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
        return await self.read(lambda conn: MigrationContext.configure(conn).get_current_revision())

    async def migrate(self) -> list[Migration]:
        """Apply every pending migration; return those applied, oldest first."""
        pending = pending_migrations(await self.schema_revision())
        if pending:
            # SQLite changes a column by rebuilding its table, and dropping the old table would
            # break the foreign keys that point at it: they are checked at the end instead.
            await self._run(_upgrade, write=True, foreign_keys=False)
        return pending

    async def check_schema(self) -> None:
        """Raise :class:`SchemaOutOfDate` unless the database is at the latest migration."""
        current = await self.schema_revision()
        head = head_revision()
        if current == head:
            return
        if self.missing_file is not None:
            raise SchemaOutOfDate(
                f"database file {self.missing_file} does not exist:"
                " run `payments migrate` to create it"
            )
        pending_migrations(current)  # a revision this version does not know says so
        raise SchemaOutOfDate(
            f"database {self.shown_url} is at schema revision {current or 'none'}, this"
            f" version needs {head}: run `payments migrate`"
        )

    async def dispose(self) -> None:
        """Finish the transactions under way and close every pooled connection."""
        if self._async_engine is not None:
            await self._async_engine.dispose()
            return
        if self._inline is not None:
            await self._inline.close()
        loop = asyncio.get_running_loop()
        for executor in (self._writer, self._readers):
            if executor is not None:
                await loop.run_in_executor(None, executor.shutdown)
        self.engine.dispose()


def _pg_transaction(
    engine: sa.Engine, work: Work[T], write: bool
) -> tuple[T, list[Callable[[], None]]]:
    # SQLAlchemy's asyncpg adapter would begin a transaction at the first statement it runs
    # itself; the store's statements go to asyncpg directly (store.sql), so the transaction is
    # asyncpg's own, and SQLAlchemy (its engine in AUTOCOMMIT, leaving transactions alone) runs
    # its statements inside it. A read gets none: at READ COMMITTED every statement takes its
    # own snapshot, in a transaction or not, and BEGIN and COMMIT would be two round trips for
    # nothing.
    with engine.connect() as conn:
        try:
            if not write:
                return work(conn), conn.info.get(_AFTER_COMMIT, [])
            transaction = sql.asyncpg_connection(conn).transaction()
            sql.call(conn, transaction.start())
            try:
                result = work(conn)
            except BaseException:
                try:
                    sql.call(conn, transaction.rollback())
                except Exception:
                    # Never back to the pool with a transaction open.
                    if not conn.invalidated:
                        conn.invalidate()
                raise
            sql.call(conn, transaction.commit())
            for observe in sql.observers:
                observe(conn, "COMMIT")
            return result, conn.info.get(_AFTER_COMMIT, [])
        finally:
            conn.info.pop(_AFTER_COMMIT, None)


def _transaction(
    engine: sa.Engine, work: Work[T], write: bool, foreign_keys: bool = True
) -> tuple[T, list[Callable[[], None]]]:
    with engine.connect() as conn:
        conn.info[_WRITE] = write
        # SQLite switches foreign keys only outside a transaction, so on the driver itself.
        driver = conn.connection.driver_connection
        if not foreign_keys and driver is not None:
            driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                result = work(conn)
                if not foreign_keys:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken}")
            return result, conn.info.get(_AFTER_COMMIT, [])
        finally:
            conn.info.pop(_WRITE, None)
            conn.info.pop(_AFTER_COMMIT, None)
            if not foreign_keys and driver is not None:
                driver.execute("PRAGMA foreign_keys=ON")


class _Batch:
    """Write transactions that share one SQLite transaction, and so one commit."""

    def __init__(self, transaction: sa.RootTransaction, loop: asyncio.AbstractEventLoop) -> None:
        self.transaction = transaction
        self.open = True
        self.broken: BaseException | None = None
        """Why the batch may not commit: a savepoint that could not be rolled back."""
        self.committed: asyncio.Future[None] = loop.create_future()
        self.committer: asyncio.Task[None] | None = None


class _InlineSqlite:
    """SQLite transactions on the event loop: the statements there, the commit's disk wait on
    the writer thread, one commit for the transactions gathered meanwhile (group commit).

    The first write transaction to find the connection free opens a SQLite transaction; every
    write transaction that comes while it is open runs in it as a savepoint of its own (released
    when it returns, rolled back alone if it raises), until the event loop has let every task
    ready to write have its turn. Then one ``COMMIT`` makes them all durable, and each caller is
    answered only after it. Those that come during a commit wait for the next one. Under load
    the commit's ``fsync`` is shared by many requests; alone, a transaction costs what it did.
    """

    _SAVEPOINT = "payments_write"

    def __init__(self, engine: sa.Engine, writer: ThreadPoolExecutor) -> None:
        self.engine = engine
        self.writer = writer
        self._write_conn: sa.Connection | None = None
        self._read_conn: sa.Connection | None = None
        self._batch: _Batch | None = None
        self._busy = False
        """A SQLite transaction is being opened or committed on the write connection."""
        self._waiting: list[asyncio.Future[None]] = []

    async def write(self, work: Work[T]) -> tuple[T, list[Callable[[], None]]]:
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
        driver = _driver(conn)
        driver.execute(f"SAVEPOINT {self._SAVEPOINT}")
        try:
            result = work(conn)
        except BaseException:
            conn.info.pop(_AFTER_COMMIT, None)
            try:
                driver.execute(f"ROLLBACK TO {self._SAVEPOINT}")
                driver.execute(f"RELEASE {self._SAVEPOINT}")
            except Exception as error:
                batch.broken = error
            raise
        driver.execute(f"RELEASE {self._SAVEPOINT}")
        effects: list[Callable[[], None]] = conn.info.pop(_AFTER_COMMIT, [])
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
            conn.info[_WRITE] = True
            # Waiting for another process's lock must not stop the event loop: the write
            # connection gives up at once, and the wait happens on the writer thread.
            _driver(conn).execute("PRAGMA busy_timeout=0")
        return conn

    async def _begin(self, conn: sa.Connection) -> sa.RootTransaction:
        try:
            return conn.begin()
        except sa.exc.OperationalError as error:
            if "locked" not in str(error.orig):
                raise
        # Another process writes: wait for its lock on the writer thread.
        return await asyncio.get_running_loop().run_in_executor(self.writer, _begin_waiting, conn)

    def _discard_write_connection(self) -> None:
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            conn.invalidate()
            conn.close()

    def read(self, work: Work[T]) -> tuple[T, list[Callable[[], None]]]:
        """Run ``work`` in a read transaction on the event loop's read connection."""
        conn = self._read_conn
        if conn is None:
            conn = self._read_conn = self.engine.connect()
            conn.info[_WRITE] = False
        try:
            with conn.begin():
                result = work(conn)
            return result, conn.info.pop(_AFTER_COMMIT, [])
        finally:
            conn.info.pop(_AFTER_COMMIT, None)

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


def _driver(conn: sa.Connection) -> Any:
    return conn.connection.driver_connection


def _begin_waiting(conn: sa.Connection) -> sa.RootTransaction:
    driver = _driver(conn)
    driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    try:
        return conn.begin()
    finally:
        driver.execute("PRAGMA busy_timeout=0")


def _report(done: asyncio.Future[None], effects: list[Callable[[], None]]) -> None:
    if not done.cancelled() and done.exception() is None:
        for effect in effects:
            effect()


def _upgrade(connection: sa.Connection) -> None:
    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


_tracer = trace.get_tracer("payments_platform.database")


def _trace_statements(engine: sa.Engine, system: str) -> None:
    """A client span per SQL statement, child of the span that is current.

    A statement outside any recorded span (an idle worker polling for jobs) makes none: it would
    be a trace of its own, hundreds of them a minute, about nothing. Statements carry bound
    parameters, never values, so the text is safe to record.
    """

    @event.listens_for(engine, "before_cursor_execute")
    def _start(
        _conn: sa.Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        if not trace.get_current_span().is_recording():
            return
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        context._payments_span = _tracer.start_span(
            f"{verb} {system}",
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system": system, "db.statement": statement[:2000]},
        )

    @event.listens_for(engine, "after_cursor_execute")
    def _end(*args: Any) -> None:
        span = getattr(args[4], "_payments_span", None)
        if span is not None:
            span.end()

    @event.listens_for(engine, "handle_error")
    def _fail(exception_context: sa.engine.ExceptionContext) -> None:
        span = getattr(exception_context.execution_context, "_payments_span", None)
        if span is not None:
            span.set_status(
                trace.Status(
                    trace.StatusCode.ERROR, type(exception_context.original_exception).__name__
                )
            )
            span.end()


def _ping_when_idle(engine: sa.Engine) -> None:
    """Ping a pooled connection before it is used only if it sat idle for a while.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout, and asyncpg's ping is three round
    trips (BEGIN, an empty query, ROLLBACK): about 180 us of this process's CPU for each
    transaction, two or three per payment. A connection the server or the network dropped is
    almost always one that waited in the pool, so only those are pinged; one that fails is
    replaced before the transaction starts. One that breaks while busy fails its transaction,
    which the client may retry (503), and SQLAlchemy then replaces every pooled connection
    made before the failure.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN_AT)
        if checked_in is None or time.monotonic() - checked_in < POOL_PING_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool discards this connection and checks out another (a new one if need be).
            raise sa.exc.DisconnectionError(str(error)) from error


def _prepare_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over BEGIN from the driver so that write transactions can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a payment acknowledged to a client survives a power cut, not only a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITE) else "BEGIN")
