"""The hot statements, run on the driver itself: fixed SQL text with named parameters, rows as
tuples.

SQLAlchemy Core builds, compiles, keys and processes every statement it runs; on a payment's
path that cost several times what SQLite or PostgreSQL spend on the statement. The statements
the API runs on every request are therefore written out once, in the store module of their
table, and handed to the driver inside the transaction :mod:`payments_platform.database`
opened: sqlite3's own cursor, or the asyncpg connection itself (its prepared statements cached
by asyncpg). The same connection, the same transaction, the same pool. SQLAlchemy keeps the
schema, the migrations, the engines and the statements built per call (listings, operator
reads, jobs).

``schema.py`` stays the one statement of the schema: a :class:`Reader` is made from a record
type and its table (refusing a field that is no column), and the table's column types say
which values it reads back from SQLite's storage formats. Those formats (SQLAlchemy's) are
written out once, below, for speed, and checked against SQLAlchemy's own processors by the
store's tests, which also prepare every statement on both backends and compare its
parameters and columns with the schema (``platform/tests/store/test_sql.py``). What else
SQLAlchemy did for these statements is done here: driver errors raised as SQLAlchemy's (so a
transaction that cannot reach its database is still a 503), a connection the driver lost
invalidated, and, when traces are recorded, a client span per statement.
"""

from __future__ import annotations

import operator
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar, cast

import asyncpg
import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from sqlalchemy.util import await_only

from payments_platform.schema import UtcTimestamp

RecordT = TypeVar("RecordT", bound=msgspec.Struct)
T = TypeVar("T")

_tracer = trace.get_tracer("payments_platform.database")
# A name after one colon (a PostgreSQL cast such as ``'[]'::json`` is not a parameter).
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_NUMBERED = re.compile(r"\$(\d+)")
_JSON = msgspec.json.Encoder()

observers: list[Callable[[sa.Connection, str], None]] = []
"""Called with each statement's connection and text before it runs, and with ``COMMIT`` when a
PostgreSQL transaction has committed, which asyncpg does without SQLAlchemy's knowledge (the
bench counts statements and commits this way; nothing in the service registers one)."""


class Sql:
    """One statement, written once with named parameters (``:payment_id``).

    PostgreSQL gets it with ``$1``, ``$2``... and SQLite with ``?1``, ``?2``..., numbered in the
    order the names first appear (a name used twice is one parameter); :attr:`params` keeps that
    order. ``lock`` adds ``FOR UPDATE`` on PostgreSQL only: SQLite's one writer at a time is its
    lock. ``returns`` is the reader of the rows it returns, whose select list fills
    ``{columns}``; any other ``{name}`` is replaced by ``parts[name]``, one of the platform's
    own fragments (a list of placeholders), never a value. ``only`` names the one backend a
    statement is written for. Every statement is kept in :data:`STATEMENTS`, which the store's
    tests prepare against the schema on each backend it runs on.
    """

    __slots__ = (
        "_pick",
        "made_in",
        "only",
        "params",
        "postgresql",
        "returns",
        "returns_rows",
        "sqlite",
        "verb",
    )

    def __init__(
        self,
        text: str,
        *,
        lock: bool = False,
        returns: Reader[Any] | None = None,
        only: str | None = None,
        **parts: str,
    ) -> None:
        if returns is not None:
            parts.setdefault("columns", returns.columns)
        for name, part in parts.items():
            text = text.replace(f"{{{name}}}", part)
        text = " ".join(text.split())
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        numbered = _NAMED.sub(number, text)
        self.params: tuple[str, ...] = tuple(names)
        # One C call per run: the values a mapping holds for the names, in order.
        getter = operator.itemgetter(*names) if names else (lambda _params: ())
        self._pick: Callable[[dict[str, object]], tuple[object, ...]] = (
            (lambda params: (getter(params),)) if len(names) == 1 else getter
        )
        self.postgresql = f"{numbered} FOR UPDATE" if lock else numbered
        self.sqlite = _NUMBERED.sub(r"?\1", numbered)
        self.verb = text.split(None, 1)[0].upper()
        self.returns = returns
        self.only = only
        self.returns_rows = self.verb == "SELECT" or " RETURNING " in text.upper()
        # The module that made it, so that the store's tests check the platform's statements
        # and not one a test made up.
        self.made_in: str = sys._getframe(1).f_globals.get("__name__", "")
        STATEMENTS.append(self)

    def __repr__(self) -> str:
        return f"Sql({self.postgresql!r})"

    def values(self, params: dict[str, object]) -> tuple[object, ...]:
        """``params`` in the statement's order; every name it takes must be given, no other."""
        try:
            values = self._pick(params)
        except KeyError as missing:
            raise TypeError(f"{self!r} takes :{missing.args[0]}, which was not given") from None
        if len(params) != len(values):
            unknown = sorted(set(params) - set(self.params))
            raise TypeError(f"{self!r} takes no {', '.join(':' + n for n in unknown)}")
        return values


STATEMENTS: list[Sql] = []
"""Every statement made, in the order made."""


def placeholders(name: str, count: int) -> str:
    """``count`` named parameters for an ``IN (...)`` list: ``:name_0, :name_1``..."""
    return ", ".join(f":{name}_{index}" for index in range(count))


def listed(name: str, values: Sequence[object]) -> dict[str, object]:
    """The parameters :func:`placeholders` names, given ``values``."""
    return {f"{name}_{index}": value for index, value in enumerate(values)}


class Result(NamedTuple):
    """What a statement returned: its rows (tuples by position) and the rows it changed."""

    rows: list[Sequence[Any]]
    rowcount: int


def run(conn: sa.Connection, statement: Sql, /, **params: object) -> Result:
    """Run ``statement`` with ``params`` in the transaction ``conn`` is in."""
    sqlite = conn.dialect.name == "sqlite"
    text = statement.sqlite if sqlite else statement.postgresql
    values = statement.values(params)
    args = _sqlite_values(values) if sqlite else tuple(map(_pg_value, values))
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


def rows(conn: sa.Connection, statement: Sql, /, **params: object) -> list[Sequence[Any]]:
    """The rows ``statement`` returns."""
    return run(conn, statement, **params).rows


def first(conn: sa.Connection, statement: Sql, /, **params: object) -> Sequence[Any] | None:
    """The first row ``statement`` returns, if any."""
    found = run(conn, statement, **params).rows
    return found[0] if found else None


def changed(conn: sa.Connection, statement: Sql, /, **params: object) -> int:
    """How many rows ``statement`` changed."""
    return run(conn, statement, **params).rowcount


class Json:
    """A parameter stored as JSON (a ``sa.JSON`` column)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


def _pg_value(value: object) -> object:
    """A value as asyncpg takes it (SQLAlchemy's codec takes JSON as text)."""
    if isinstance(value, Json):
        return _JSON.encode(value.value).decode()
    return value


# SQLite's storage formats: a value as SQLAlchemy's types store it there (a UUID as 32 hex
# digits, a time as UTC text with microseconds, which orders as text; JSON as text), written
# out here, once, because SQLAlchemy's own processors cost a third more CPU on the store's
# statements (docs/performance.md). platform/tests/store/test_sql.py checks each, both ways,
# against the processors of the column types ``schema.py`` declares.
_Processor = Callable[[Any], Any]


def sqlite_time(value: datetime) -> str:
    """A time as ``UtcTimestamp`` stores it in SQLite."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def sqlite_json(value: Json) -> str:
    """A ``sa.JSON`` value as stored in SQLite."""
    return _JSON.encode(value.value).decode()


_SQLITE_BINDS: dict[type, _Processor] = {
    uuid.UUID: operator.attrgetter("hex"),
    datetime: sqlite_time,
    Json: sqlite_json,
}


def _sqlite_values(values: tuple[object, ...]) -> tuple[object, ...]:
    binds = _SQLITE_BINDS
    return tuple(
        [
            value if (process := binds.get(type(value))) is None else process(value)
            for value in values
        ]
    )


def _utc_text(stored: str | None) -> str | None:
    # Stored without a zone, and every stored time is UTC: msgspec reads it with its "Z".
    return None if stored is None else stored + "Z"


def _json_text(stored: str | None) -> Any:
    return None if stored is None else msgspec.json.decode(stored)


def _sqlite_reader(type_: sa.types.TypeEngine[Any]) -> _Processor | None:
    """How a column's stored SQLite value is made readable by msgspec (which reads a UUID's 32
    hex digits as they are)."""
    if isinstance(type_, UtcTimestamp):
        return _utc_text
    if isinstance(type_, sa.JSON):
        return _json_text
    return None


class Reader(Generic[RecordT]):
    """Builds records of one type from rows of one table, on either backend: the one way a
    record is read, whoever ran the statement.

    Every field of the record must be a column of the table, checked when the reader is made;
    on SQLite, the columns' types (as the table declares them) say which stored values need
    reading back from their storage format.
    """

    def __init__(self, record_type: type[RecordT], table: sa.Table, *, alias: str = "") -> None:
        self.record_type = record_type
        self.table = table
        self.names: tuple[str, ...] = record_type.__struct_fields__
        self._list_type: Any = list.__class_getitem__(record_type)
        missing = [name for name in self.names if name not in table.c]
        if missing:
            raise RuntimeError(
                f"{record_type.__name__} has fields that are not columns of {table.name}:"
                f" {', '.join(missing)}"
            )
        prefix = f"{alias}." if alias else ""
        self.columns = ", ".join(prefix + name for name in self.names)
        """The select list, in the record's field order."""
        self._sqlite: list[tuple[int, _Processor]] = []
        for index, name in enumerate(self.names):
            process = _sqlite_reader(table.c[name].type)
            if process is not None:
                self._sqlite.append((index, process))

    def read(self, conn: sa.Connection, row: Sequence[Any]) -> RecordT:
        """The record of ``row``, a driver's row of :attr:`columns`."""
        values = row
        if conn.dialect.name == "sqlite":
            values = list(row)
            for index, process in self._sqlite:
                values[index] = process(values[index])
        return msgspec.convert(
            dict(zip(self.names, values, strict=True)), self.record_type, strict=False
        )

    def read_all(self, conn: sa.Connection, found: Sequence[Sequence[Any]]) -> list[RecordT]:
        """The records of ``found``."""
        return [self.read(conn, row) for row in found]

    def read_row(self, row: sa.Row[Any]) -> RecordT:
        """The record of a row SQLAlchemy returned (its values already processed)."""
        # Column names arrive as str subclasses, which msgspec does not take as field names.
        mapping = {str(key): value for key, value in row._asdict().items()}
        return msgspec.convert(mapping, self.record_type, strict=False)

    def read_json(self, found: Sequence[dict[str, Any]]) -> list[RecordT]:
        """The records of rows PostgreSQL aggregated into JSON (``json_agg``)."""
        records: list[RecordT] = msgspec.convert(found, self._list_type, strict=False)
        return records
