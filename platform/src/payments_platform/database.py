"""The database: engine, short transactions and migrations.

SQLite (file, WAL) is the embedded default, PostgreSQL the production backend; the same code
runs on both. A write transaction on SQLite starts with ``BEGIN IMMEDIATE`` so that two writers
queue on the database lock instead of deadlocking when a read upgrades to a write, and within one
process writers also queue on an asyncio lock, which is cheaper than SQLite's busy-wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from opentelemetry import trace
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

_WRITE = "payments_write_transaction"
SQLITE_BUSY_TIMEOUT_MS = 30_000


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this version needs."""


_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


def async_url(url: str) -> sa.URL:
    """The URL with the async driver this platform uses when none is named.

    ``postgresql://host/db`` becomes ``postgresql+asyncpg://host/db`` and ``sqlite:///x.db``
    becomes ``sqlite+aiosqlite:///x.db``; other backends are refused.
    """
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    driver = _ASYNC_DRIVERS.get(backend)
    if driver is None:
        raise ValueError(f"database {backend!r} is not supported: use sqlite or postgresql")
    if parsed.drivername == backend:
        parsed = parsed.set(drivername=f"{backend}+{driver}")
    return parsed


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "payments_platform:migrations")
    return config


class Database:
    """The engine and the transactions the use cases run in."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        options: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            if pool_size == 0:
                options.update(poolclass=NullPool)
            else:
                options.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _prepare_sqlite(self.engine)
        _trace_statements(self.engine, self.url.get_backend_name())

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A short write transaction; commits on success, rolls back on error."""
        async with self._write_lock or nullcontext(), self.engine.connect() as conn:
            conn.info[_WRITE] = True
            try:
                async with conn.begin():
                    yield conn
            finally:
                conn.info.pop(_WRITE, None)

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def migrate(self) -> None:
        """Apply every pending migration."""
        async with self.write() as conn:
            await conn.run_sync(_upgrade)

    async def check_schema(self) -> None:
        """Raise :class:`SchemaOutOfDate` unless the database is at the latest migration."""
        async with self.read() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        if current != head:
            raise SchemaOutOfDate(
                f"database {self.url.render_as_string(hide_password=True)} is at schema"
                f" revision {current or 'none'}, this version needs {head}: run `payments migrate`"
            )

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _upgrade(connection: sa.Connection) -> None:
    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


_tracer = trace.get_tracer("payments_platform.database")


def _trace_statements(engine: AsyncEngine, system: str) -> None:
    """A client span per SQL statement, child of whatever span is current.

    Statements carry bound parameters, never values, so the text is safe to record.
    """

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start(
        _conn: sa.Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        context._payments_span = _tracer.start_span(
            f"{verb} {system}",
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system": system, "db.statement": statement[:2000]},
        )

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _end(*args: Any) -> None:
        span = getattr(args[4], "_payments_span", None)
        if span is not None:
            span.end()

    @event.listens_for(engine.sync_engine, "handle_error")
    def _fail(exception_context: sa.engine.ExceptionContext) -> None:
        span = getattr(exception_context.execution_context, "_payments_span", None)
        if span is not None:
            span.set_status(
                trace.Status(
                    trace.StatusCode.ERROR, type(exception_context.original_exception).__name__
                )
            )
            span.end()


def _prepare_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
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

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITE) else "BEGIN")
