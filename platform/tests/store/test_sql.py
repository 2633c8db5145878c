"""The store's fixed statements (``store/sql``), checked against the schema they are run on.

The statements are written out as text for speed, so nothing but these tests ties them to
``schema.py``: each one is prepared by the database itself on every backend it runs on, its
parameters are compared with the columns they are bound to, and the columns it returns with
the record its reader builds. A statement naming a column the schema lacks, binding a value to
the wrong column, or returning rows its record cannot be built from fails here, not on the day
some other test happens to run it on that backend.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from payments_platform import jobs, schema
from payments_platform.database import Database
from payments_platform.lifecycle import PaymentStatus
from payments_platform.store import (
    attempts,
    events,
    history,
    notifications,
    payments,
    refunds,
    sql,
)

from store.payment_rows import NOW, InTransaction, new_payment

# The modules whose statements are made when they are imported.
_MODULES = (attempts, events, history, jobs, notifications, payments, refunds)


def every_statement() -> list[sql.Sql]:
    """Every fixed statement, those built per number of listed values too."""
    for count in (1, 3):
        for locked in (False, True):
            payments._by_external_id(count, locked)
        events._unmatched(count)
        refunds._finish(count)
    made = {id(statement): statement for statement in sql.STATEMENTS}.values()
    return [statement for statement in made if statement.made_in.startswith("payments_platform.")]


# The table after the last FROM of a SELECT: its outer query's (the history's subqueries come
# first).
_TABLE = re.compile(r"^(?:INSERT INTO|UPDATE|SELECT .* FROM) (\w+)", re.IGNORECASE)
_INSERT = re.compile(r"^INSERT INTO \w+ \(([^)]*)\) VALUES \((.*)\)", re.IGNORECASE)
_COMPARED = re.compile(r"(?:\b\w+\.)?(\w+) (?:=|<>|<|>|>=|<=) :(\w+)")


def table_of(statement: sql.Sql) -> sa.Table:
    """The table a statement writes or reads."""
    found = _TABLE.match(statement.postgresql)
    assert found, statement
    return schema.metadata.tables[found.group(1)]


def bound_columns(statement: sql.Sql) -> list[tuple[str, str]]:
    """(column, parameter) pairs: a parameter inserted into, set on or compared with a column."""
    text = statement.postgresql
    pairs = []
    inserted = _INSERT.match(text)
    if inserted:
        columns = [name.strip() for name in inserted.group(1).split(",")]
        values = [value.strip() for value in inserted.group(2).split(",")]
        pairs += [
            (column, value[1:])
            for column, value in zip(columns, values, strict=True)
            if value.startswith(":")
        ]
    return pairs + _COMPARED.findall(_named(statement))


def _named(statement: sql.Sql) -> str:
    """The statement's PostgreSQL text with its parameters named again."""

    def name(number: re.Match[str]) -> str:
        return ":" + statement.params[int(number.group(1)) - 1]

    return re.sub(r"\$(\d+)", name, statement.postgresql)


def test_the_statements_bind_each_value_to_the_column_of_its_name() -> None:
    checked = 0
    for statement in every_statement():
        table = table_of(statement)
        for column, parameter in bound_columns(statement):
            if column in table.c and parameter in table.c:
                assert column == parameter, f"{statement!r} binds :{parameter} to {column}"
                checked += 1
    assert checked > 30


async def test_every_statement_is_prepared_by_the_database_against_the_schema(
    database_url: str, backend: str
) -> None:
    database = Database(database_url)
    await database.migrate()
    statements = [s for s in every_statement() if s.only in (None, backend)]

    def prepare_all(conn: sa.Connection) -> None:
        for statement in statements:
            if backend == "sqlite":
                # SQLite compiles the statement against the schema to explain it.
                conn.exec_driver_sql(f"EXPLAIN {statement.sqlite}", (None,) * len(statement.params))
                continue
            _check_on_postgresql(conn, statement)

    try:
        await database.write(prepare_all)
    finally:
        await database.dispose()


def _check_on_postgresql(conn: sa.Connection, statement: sql.Sql) -> None:
    driver = sql.asyncpg_connection(conn)
    prepared = sql.call(conn, driver.prepare(statement.postgresql))
    parameters = prepared.get_parameters()
    assert len(parameters) == len(statement.params), statement
    table = table_of(statement)
    for name, taken in zip(statement.params, parameters, strict=True):
        if name in table.c:
            column = sql.call(conn, driver.prepare(f"SELECT {name} FROM {table.name}"))  # noqa: S608
            declared = column.get_attributes()[0].type.name
            assert _family(taken.name) == _family(declared), (statement, name)
    if statement.returns is not None:
        returned = [attribute.name for attribute in prepared.get_attributes()]
        assert returned[: len(statement.returns.names)] == list(statement.returns.names), statement


def _family(type_name: str) -> str:
    # PostgreSQL takes a value compared with a varchar column as text.
    return "text" if type_name in ("varchar", "text") else type_name


def test_a_name_used_twice_is_one_parameter_numbered_in_order_of_first_use() -> None:
    statement = sql.Sql("UPDATE t SET b = :b, c = :a WHERE a = :a AND d = :b")
    assert statement.params == ("b", "a")
    assert statement.postgresql == "UPDATE t SET b = $1, c = $2 WHERE a = $2 AND d = $1"
    assert statement.sqlite == "UPDATE t SET b = ?1, c = ?2 WHERE a = ?2 AND d = ?1"


def test_a_cast_and_a_time_in_a_literal_are_not_parameters() -> None:
    statement = sql.Sql("SELECT COALESCE(x, '[]'::json), '10:30' FROM t WHERE id = :id")
    assert statement.params == ("id",)
    assert "'[]'::json" in statement.postgresql
    assert "'10:30'" in statement.sqlite


def test_a_lock_is_asked_of_postgresql_only() -> None:
    statement = sql.Sql("SELECT id FROM t WHERE id = :id", lock=True)
    assert statement.postgresql.endswith(" FOR UPDATE")
    assert "FOR UPDATE" not in statement.sqlite


def test_a_missing_or_unknown_parameter_is_refused_by_name() -> None:
    statement = sql.Sql("SELECT id FROM t WHERE id = :id AND kind = :kind")
    with pytest.raises(TypeError, match=":kind, which was not given"):
        statement.values({"id": 1})
    with pytest.raises(TypeError, match="takes no :sort"):
        statement.values({"id": 1, "kind": "a", "sort": "b"})
    assert statement.values({"kind": "a", "id": 1}) == (1, "a")


def test_a_record_with_a_field_its_table_lacks_is_refused_when_its_reader_is_made() -> None:
    class Stray(msgspec.Struct):
        id: uuid.UUID
        colour: str

    with pytest.raises(RuntimeError, match="not columns of payments: colour"):
        sql.Reader(Stray, schema.payments)


async def test_what_the_store_writes_sqlalchemy_reads_as_written_and_back(
    in_transaction: InTransaction,
) -> None:
    """The store's statements and SQLAlchemy's store a value the same way on each backend: a
    time in another zone as the same moment in UTC, a UUID, JSON."""
    elsewhere = datetime(2026, 12, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))

    def body(conn: sa.Connection) -> None:
        payment = new_payment(conn, PaymentStatus.INITIATED)
        events.record(conn, payment_id=payment.id, kind="note", now=elsewhere, detail={"a": [1]})
        row = conn.execute(
            sa.select(schema.payment_events).where(schema.payment_events.c.payment_id == payment.id)
        ).one()
        by_sqlalchemy = events.READER.read_row(row)
        (by_store,) = events.of_payment(conn, payment.id)
        assert by_store == by_sqlalchemy
        assert by_store.created_at == elsewhere
        assert by_store.created_at.tzinfo == UTC
        assert by_store.detail == {"a": [1]}
        assert by_store.payment_id == payment.id

        later = NOW + timedelta(seconds=1, microseconds=7)
        conn.execute(
            sa.update(schema.payments)
            .where(schema.payments.c.id == payment.id)
            .values(updated_at=later, metadata={"k": "v"})
        )
        stored = payments.load(conn, payment.id)
        assert (stored.updated_at, stored.metadata) == (later, {"k": "v"})
        # Times stored either way order as moments, which the listings' cursors rely on.
        assert (
            conn.scalar(
                sa.select(sa.func.count()).where(
                    schema.payment_events.c.created_at < schema.payments.c.updated_at,
                    schema.payments.c.id == payment.id,
                )
            )
            == 1
        )

    await in_transaction(body)


def test_every_record_read_from_a_table_has_one_reader() -> None:
    readers: dict[type[Any], list[sql.Reader[Any]]] = {}
    for statement in every_statement():
        if statement.returns is not None:
            readers.setdefault(statement.returns.record_type, []).append(statement.returns)
    assert readers, "no statement returns records"
    for record_type, found in readers.items():
        assert len({id(reader) for reader in found}) == 1, record_type


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (schema.UtcTimestamp(), datetime(2026, 12, 1, 14, 0, 0, 123456, tzinfo=UTC)),
        (
            schema.UtcTimestamp(),
            datetime(2026, 12, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
        ),
        (schema.UtcTimestamp(), datetime(1999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
        (sa.Uuid(), uuid.UUID("0123456789abcdef0123456789abcdef")),
        (sa.JSON(), {"a": [1, "é", None], "b": {"c": True}}),
    ],
    ids=["time", "time-elsewhere", "time-early", "uuid", "json"],
)
def test_the_sqlite_formats_written_out_are_sqlalchemy_s_both_ways(
    type_: sa.types.TypeEngine[Any], value: object
) -> None:
    """What the store writes, SQLAlchemy reads as the same value, and what SQLAlchemy writes,
    the store reads so: a format that drifted from SQLAlchemy's would store times that order
    wrongly or read back another moment."""
    dialect = sa.create_engine("sqlite://").dialect
    implementation = type_.dialect_impl(dialect)
    by_sqlalchemy = implementation.bind_processor(dialect)
    read_by_sqlalchemy = implementation.result_processor(dialect, None)
    assert by_sqlalchemy is not None
    assert read_by_sqlalchemy is not None
    given = sql.Json(value) if isinstance(type_, sa.JSON) else value
    (by_store,) = sql._sqlite_values((given,))
    assert read_by_sqlalchemy(by_store) == value
    if not isinstance(type_, sa.JSON):  # JSON's text may space itself otherwise; its value not
        assert by_store == by_sqlalchemy(value)
    record = type(value) if not isinstance(value, dict) else dict
    reader = sql._sqlite_reader(type_)
    stored = by_sqlalchemy(value)
    readable = stored if reader is None else reader(stored)
    assert msgspec.convert(readable, record, strict=False) == value
