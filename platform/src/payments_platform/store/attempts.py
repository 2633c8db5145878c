"""The ``payment_attempts`` table: every gateway call for a payment, why that gateway, how it
ended."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from payments_platform.lifecycle import AttemptOutcome
from payments_platform.records import Attempt, from_row
from payments_platform.schema import payment_attempts
from payments_platform.store.text import storable_text

_INSERT = sa.insert(payment_attempts).returning(payment_attempts.c.id)
_FINISH = sa.update(payment_attempts).where(payment_attempts.c.id == sa.bindparam("attempt_id"))


def insert(
    conn: sa.Connection, *, payment_id: uuid.UUID, gateway: str, reason: str, now: datetime
) -> int:
    """Record that ``gateway`` is about to be called for the payment; return the attempt id."""
    result = conn.execute(
        _INSERT,
        {
            "payment_id": payment_id,
            "gateway": gateway,
            "reason": reason,
            "outcome": AttemptOutcome.IN_FLIGHT,
            "started_at": now,
        },
    )
    return int(result.scalar_one())


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
    conn.execute(
        _FINISH,
        {
            "attempt_id": attempt_id,
            "outcome": outcome,
            "error": storable_text(error),
            "external_id": external_id,
            "finished_at": now,
        },
    )


def in_flight(conn: sa.Connection, payment_id: uuid.UUID) -> Attempt | None:
    """The payment's gateway call that was sent (or about to be) and has no recorded end."""
    row = conn.execute(
        sa.select(payment_attempts)
        .where(
            payment_attempts.c.payment_id == payment_id,
            payment_attempts.c.outcome == AttemptOutcome.IN_FLIGHT,
        )
        .order_by(payment_attempts.c.id.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else from_row(Attempt, row)


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[Attempt]:
    """Every attempt for the payment, oldest first."""
    rows = conn.execute(
        sa.select(payment_attempts)
        .where(payment_attempts.c.payment_id == payment_id)
        .order_by(payment_attempts.c.id)
    )
    return [from_row(Attempt, row) for row in rows]
