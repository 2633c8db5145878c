"""The ``payment_attempts`` table: every gateway call for a payment, why that gateway, how it
ended."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from payments_platform import schema
from payments_platform.lifecycle import AttemptOutcome
from payments_platform.records import Attempt
from payments_platform.store.sql import Reader, Sql, changed, first, rows
from payments_platform.store.text import storable_text

READER = Reader(Attempt, schema.payment_attempts)

_INSERT = Sql(
    "INSERT INTO payment_attempts (payment_id, gateway, reason, outcome, started_at,"
    " trace_parent) VALUES (:payment_id, :gateway, :reason, :outcome, :started_at,"
    " :trace_parent) RETURNING id"
)
_FINISH = Sql(
    "UPDATE payment_attempts SET outcome = :outcome, error = :error,"
    " external_id = :external_id, finished_at = :finished_at WHERE id = :id"
)
_IN_FLIGHT = Sql(
    "SELECT {columns} FROM payment_attempts WHERE payment_id = :payment_id"
    " AND outcome = :outcome ORDER BY id DESC LIMIT 1",
    returns=READER,
)
_LATEST = Sql(
    "SELECT {columns} FROM payment_attempts WHERE payment_id = :payment_id"
    " ORDER BY id DESC LIMIT 1",
    returns=READER,
)
_OF_PAYMENT = Sql(
    "SELECT {columns} FROM payment_attempts WHERE payment_id = :payment_id ORDER BY id",
    returns=READER,
)


def insert(
    conn: sa.Connection,
    *,
    payment_id: uuid.UUID,
    gateway: str,
    reason: str,
    now: datetime,
    trace_parent: str | None = None,
) -> int:
    """Record that ``gateway`` is about to be called for the payment, by the request
    ``trace_parent`` names; return the attempt id."""
    row = first(
        conn,
        _INSERT,
        payment_id=payment_id,
        gateway=gateway,
        reason=reason,
        outcome=AttemptOutcome.IN_FLIGHT,
        started_at=now,
        trace_parent=trace_parent,
    )
    if row is None:  # pragma: no cover - INSERT ... RETURNING returns the row
        raise RuntimeError("the attempt was not written")
    return int(row[0])


def finish(
    conn: sa.Connection,
    attempt_id: int,
    *,
    outcome: AttemptOutcome,
    now: datetime,
    error: str | None = None,
    external_id: str | None = None,
) -> None:
    """Record how a gateway call ended."""
    changed(
        conn,
        _FINISH,
        id=attempt_id,
        outcome=outcome,
        error=storable_text(error),
        external_id=external_id,
        finished_at=now,
    )


def in_flight(conn: sa.Connection, payment_id: uuid.UUID) -> Attempt | None:
    """The payment's gateway call that was sent (or about to be) and has no recorded end."""
    row = first(conn, _IN_FLIGHT, payment_id=payment_id, outcome=AttemptOutcome.IN_FLIGHT)
    return None if row is None else READER.read(conn, row)


def latest(conn: sa.Connection, payment_id: uuid.UUID) -> Attempt | None:
    """The payment's most recent gateway call, if it had one."""
    row = first(conn, _LATEST, payment_id=payment_id)
    return None if row is None else READER.read(conn, row)


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[Attempt]:
    """Every attempt for the payment, oldest first."""
    return READER.read_all(conn, rows(conn, _OF_PAYMENT, payment_id=payment_id))
