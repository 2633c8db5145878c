"""The hot statements, run on the driver itself: fixed SQL text, parameters as a tuple, rows as
tuples.

SQLAlchemy Core builds, compiles, keys and processes every statement it runs; on a payment's
path that cost several times what SQLite or PostgreSQL spend on the statement. The statements
the API runs on every request are therefore written out once here and handed to the driver
inside the transaction :mod:`payments_platform.database` opened: sqlite3's own cursor, or the
asyncpg connection itself (its prepared statements cached by asyncpg). The same connection, the
same transaction, the same pool. SQLAlchemy keeps the schema, the migrations, the engines and
the statements built per call (listings, operator reads, jobs).

What SQLAlchemy did for these statements is done here instead, and only that: the values
stored as SQLAlchemy stores them (on SQLite a UUID as 32 hex digits, a time as UTC text with
microseconds, JSON as text), driver errors raised as SQLAlchemy's (so a transaction that cannot
reach its database is still a 503), a connection the driver lost invalidated, and, when traces
are recorded, a client span per statement.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar, cast

import asyncpg
import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.util import await_only

RecordT = TypeVar("RecordT", bound=msgspec.Struct)
T = TypeVar("T")

_tracer = trace.get_tracer("payments_platform.database")
_PLACEHOLDER = re.compile(r"\$(\d+)")
_JSON = msgspec.json.Encoder()

observers: list[Callable[[sa.Connection, str], None]] = []
"""Called with each statement's connection and text before it runs, and with ``COMMIT`` when a
PostgreSQL transaction has committed, which asyncpg does without SQLAlchemy's knowledge (the
bench counts statements and commits this way; nothing in the service registers one)."""


class Sql:
    """One statement, written once with PostgreSQL's ``$1``, ``$2``... placeholders.

    SQLite gets the same text with its ``?1``, ``?2``... (same numbers, same meaning) and
    without the ``FOR UPDATE`` that ``lock`` adds on PostgreSQL: SQLite's one writer at a time
    is its lock. ``{name}`` in the text is replaced by ``parts[name]``: the platform's own
    fragments (a select list, a list of placeholders), never a value.
    """

    __slots__ = ("postgresql", "returns_rows", "sqlite", "verb")

    def __init__(self, text: str, *, lock: bool = False, **parts: str) -> None:
        for name, part in parts.items():
            text = text.replace(f"{{{name}}}", part)
        text = " ".join(text.split())
        self.postgresql = f"{text} FOR UPDATE" if lock else text
        self.sqlite = _PLACEHOLDER.sub(r"?\1", text)
        self.verb = text.split(None, 1)[0].upper()
        self.returns_rows = self.verb == "SELECT" or " RETURNING " in text.upper()

    def __repr__(self) -> str:
        return f"Sql({self.postgresql!r})"


class Result(NamedTuple):
    """What a statement returned: its rows (tuples by position) and the rows it changed."""

    rows: list[Sequence[Any]]
    rowcount: int


def run(conn: sa.Connection, statement: Sql, *params: object) -> Result:
    """Run ``statement`` with ``params`` in the transaction ``conn`` is in."""
    sqlite = conn.dialect.name == "sqlite"
    text = statement.sqlite if sqlite else statement.postgresql
    args = tuple(_sqlite_value(v) for v in params) if sqlite else tuple(map(_pg_value, params))
    for observe in observers:
        observe(conn, text)
    span = None
    if trace.get_current_span().is_recording():
        system = conn.dialect.name
        span = _tracer.start_span(
            f"{statement.verb} {system}",
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system": system, "db.statement": text[:2000]},
        )
    try:
        if sqlite:
            return _run_sqlite(conn, text, args)
        driver = asyncpg_connection(conn)
        if statement.returns_rows:
            found = call(conn, driver.fetch(text, *args), text, args)
            return Result(found, len(found))
        status: str = call(conn, driver.execute(text, *args), text, args)
        return Result([], int(status.rsplit(" ", 1)[-1]))
    except sa.exc.DBAPIError as error:
        if span is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(error.orig).__name__))
        raise
    finally:
        if span is not None:
            span.end()


def _run_sqlite(conn: sa.Connection, text: str, args: tuple[object, ...]) -> Result:
    fairy = conn.connection
    cursor = fairy.cursor()
    try:
        cursor.execute(text, args)
        found = list(cursor.fetchall()) if cursor.description else []
        return Result(found, cursor.rowcount)
    except conn.dialect.loaded_dbapi.Error as error:
        if conn.dialect.is_disconnect(error, fairy, cursor):
            conn.invalidate(error)
        raise sa.exc.DBAPIError.instance(
            text, args, error, conn.dialect.loaded_dbapi.Error
        ) from error
    finally:
        cursor.close()


def asyncpg_connection(conn: sa.Connection) -> asyncpg.Connection:
    """The asyncpg connection under ``conn``, a PostgreSQL connection."""
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a checked-out connection has its driver's
        raise RuntimeError("the connection has no driver connection")
    return cast(asyncpg.Connection, driver)


def call(
    conn: sa.Connection, awaitable: Awaitable[T], text: str = "", args: tuple[object, ...] = ()
) -> T:
    """Await ``awaitable``, a call of ``conn``'s asyncpg connection, from the transaction's
    greenlet; its errors are raised as SQLAlchemy's, and a connection it lost is invalidated.

    The store's statements go to asyncpg itself, past SQLAlchemy's adapter of asyncpg to
    DB-API (a lock, a statement cache of its own, a description built per statement, a regular
    expression for the row count): a transaction of five statements cost 512 us of CPU through
    it and 453 us without (docs/performance.md).
    """
    try:
        return await_only(awaitable)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
        kind = next(
            (meaning for raised, meaning in _PG_ERRORS if isinstance(error, raised)),
            sa.exc.OperationalError,
        )
        # A statement PostgreSQL refused leaves the connection usable; anything else (a socket
        # error, a timeout, a protocol state asyncpg gave up on) does not.
        lost = (
            not isinstance(error, asyncpg.PostgresError)
            or isinstance(error, asyncpg.PostgresConnectionError)
            or asyncpg_connection(conn).is_closed()
        )
        if lost:
            conn.invalidate(error)
        raise kind(text, args, error, connection_invalidated=lost) from error


_PG_ERRORS: tuple[tuple[type[Exception], type[sa.exc.DBAPIError]], ...] = (
    (asyncpg.IntegrityConstraintViolationError, sa.exc.IntegrityError),
    (asyncpg.DataError, sa.exc.DataError),
    (asyncpg.SyntaxOrAccessError, sa.exc.ProgrammingError),
)


def rows(conn: sa.Connection, statement: Sql, *params: object) -> list[Sequence[Any]]:
    """The rows ``statement`` returns."""
    return run(conn, statement, *params).rows


def first(conn: sa.Connection, statement: Sql, *params: object) -> Sequence[Any] | None:
    """The first row ``statement`` returns, if any."""
    found = run(conn, statement, *params).rows
    return found[0] if found else None


def changed(conn: sa.Connection, statement: Sql, *params: object) -> int:
    """How many rows ``statement`` changed."""
    return run(conn, statement, *params).rowcount


def _sqlite_value(value: object) -> object:
    """A value as SQLAlchemy's types store it in SQLite."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return _sqlite_time(value)
    if isinstance(value, Json):
        return _JSON.encode(value.value).decode()
    return value


def _pg_value(value: object) -> object:
    """A value as asyncpg takes it (SQLAlchemy's codec takes JSON as text)."""
    if isinstance(value, Json):
        return _JSON.encode(value.value).decode()
    return value


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME format, which orders as text; every stored time is UTC.
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


class Json:
    """A parameter stored as JSON (a ``sa.JSON`` column)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class Reader(Generic[RecordT]):
    """Builds records of one type from rows selected as :attr:`columns`, on either backend."""

    def __init__(
        self,
        record_type: type[RecordT],
        *,
        times: Sequence[str] = (),
        json: Sequence[str] = (),
        table: str = "",
    ) -> None:
        self.record_type = record_type
        self.names: tuple[str, ...] = record_type.__struct_fields__
        prefix = f"{table}." if table else ""
        self.columns = ", ".join(prefix + name for name in self.names)
        """The select list, in the record's field order."""
        self._times = [self.names.index(name) for name in times]
        self._json = [self.names.index(name) for name in json]

    def read(self, conn: sa.Connection, row: Sequence[Any]) -> RecordT:
        """The record of ``row``."""
        values = list(row)
        if conn.dialect.name == "sqlite":
            for index in self._times:
                if values[index] is not None:
                    values[index] += "Z"  # stored as UTC without a zone
            for index in self._json:
                if values[index] is not None:
                    values[index] = msgspec.json.decode(values[index])
        return msgspec.convert(
            dict(zip(self.names, values, strict=True)), self.record_type, strict=False
        )

    def read_all(self, conn: sa.Connection, found: Sequence[Sequence[Any]]) -> list[RecordT]:
        """The records of ``found``."""
        return [self.read(conn, row) for row in found]
