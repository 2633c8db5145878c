"""Reads and writes of payments, attempts, refunds and events. Each function runs in the
transaction it is given; conditional updates return whether they took effect, which is how two
racing requests find out which one won."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from payments_platform.lifecycle import PaymentStatus
from payments_platform.records import (
    Attempt,
    AttemptOutcome,
    Event,
    Payment,
    PaymentHistory,
    Refund,
    RefundStatus,
    from_row,
)
from payments_platform.schema import payment_attempts, payment_events, payments, refunds


def storable_text(text: str | None) -> str | None:
    """Free text from outside (a vendor's message) as it can be stored: PostgreSQL text holds
    no NUL, which becomes U+FFFD."""
    return None if text is None else text.replace("\x00", "\ufffd")


# Statements on the hot path are built once: building one costs more than running it.
_INSERT_PAYMENT = {
    "postgresql": postgresql.insert(payments).on_conflict_do_nothing(index_elements=["id"]),
    "sqlite": sqlite.insert(payments).on_conflict_do_nothing(index_elements=["id"]),
}
_SELECT_PAYMENT = sa.select(payments).where(payments.c.id == sa.bindparam("payment_id"))
_SELECT_PAYMENT_FOR_UPDATE = _SELECT_PAYMENT.with_for_update()
_INSERT_EVENT = sa.insert(payment_events)
_INSERT_ATTEMPT = sa.insert(payment_attempts).returning(payment_attempts.c.id)
_FINISH_ATTEMPT = sa.update(payment_attempts).where(
    payment_attempts.c.id == sa.bindparam("attempt_id")
)


def insert_payment(
    conn: sa.Connection,
    *,
    payment_id: uuid.UUID,
    merchant: str | None,
    currency: str,
    amount_minor: int,
    now: datetime,
) -> bool:
    """Write a new ``pending`` payment; False if the id is taken (the row is left alone)."""
    values = {
        "id": payment_id,
        "merchant": merchant,
        "currency": currency,
        "amount_minor": amount_minor,
        "status": PaymentStatus.PENDING,
        "created_at": now,
        "updated_at": now,
    }
    result = conn.execute(_INSERT_PAYMENT[conn.dialect.name], values)
    return result.rowcount == 1


def get_payment(
    conn: sa.Connection, payment_id: uuid.UUID, *, for_update: bool = False
) -> Payment | None:
    """The payment, optionally locking its row until the transaction ends."""
    query = _SELECT_PAYMENT_FOR_UPDATE if for_update else _SELECT_PAYMENT
    row = (conn.execute(query, {"payment_id": payment_id})).one_or_none()
    return None if row is None else from_row(Payment, row)


def load_payment(
    conn: sa.Connection, payment_id: uuid.UUID, *, for_update: bool = False
) -> Payment:
    """A payment known to exist (payments are never deleted)."""
    payment = get_payment(conn, payment_id, for_update=for_update)
    if payment is None:
        raise LookupError(f"payment {payment_id} is missing from the database")
    return payment


def find_by_external_id(
    conn: sa.Connection, gateways: Sequence[str], external_id: str, *, for_update: bool = False
) -> Payment | None:
    """The payment one of ``gateways`` knows as ``external_id``."""
    query = sa.select(payments).where(
        payments.c.gateway.in_(gateways), payments.c.external_id == external_id
    )
    if for_update:
        query = query.with_for_update()
    row = (conn.execute(query.limit(1))).one_or_none()
    return None if row is None else from_row(Payment, row)


def move_payment(
    conn: sa.Connection,
    payment_id: uuid.UUID,
    *,
    expected: PaymentStatus | Collection[PaymentStatus],
    now: datetime,
    **values: Any,
) -> bool:
    """Update the payment only if it is still in ``expected``; True if it was."""
    allowed = [expected] if isinstance(expected, PaymentStatus) else list(expected)
    result = conn.execute(
        sa.update(payments)
        .where(payments.c.id == payment_id, payments.c.status.in_(allowed))
        .values(updated_at=now, **values)
    )
    return result.rowcount == 1


def insert_attempt(
    conn: sa.Connection, *, payment_id: uuid.UUID, gateway: str, reason: str, now: datetime
) -> int:
    """Record that ``gateway`` is about to be called for the payment; return the attempt id."""
    result = conn.execute(
        _INSERT_ATTEMPT,
        {
            "payment_id": payment_id,
            "gateway": gateway,
            "reason": reason,
            "outcome": AttemptOutcome.IN_FLIGHT,
            "started_at": now,
        },
    )
    return int(result.scalar_one())


def finish_attempt(
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
        _FINISH_ATTEMPT,
        {
            "attempt_id": attempt_id,
            "outcome": outcome,
            "error": storable_text(error),
            "external_id": external_id,
            "finished_at": now,
        },
    )


def in_flight_attempt(conn: sa.Connection, payment_id: uuid.UUID) -> Attempt | None:
    """The payment's gateway call that was sent (or about to be) and has no recorded end."""
    row = (
        conn.execute(
            sa.select(payment_attempts)
            .where(
                payment_attempts.c.payment_id == payment_id,
                payment_attempts.c.outcome == AttemptOutcome.IN_FLIGHT,
            )
            .order_by(payment_attempts.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else from_row(Attempt, row)


def unmatched_webhooks(
    conn: sa.Connection, gateways: Sequence[str], external_id: str
) -> list[Event]:
    """Webhooks that named ``external_id`` before any payment was known under it."""
    result = conn.execute(
        sa.select(payment_events)
        .where(
            payment_events.c.payment_id.is_(None),
            payment_events.c.kind == "webhook",
            payment_events.c.gateway.in_(gateways),
            payment_events.c.external_id == external_id,
        )
        .order_by(payment_events.c.id)
    )
    return [from_row(Event, row) for row in result]


def record_event(
    conn: sa.Connection,
    *,
    payment_id: uuid.UUID | None,
    kind: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    gateway: str | None = None,
    external_id: str | None = None,
    accepted: bool | None = None,
    reason: str | None = None,
    body_sha256: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append to the audit trail."""
    conn.execute(
        _INSERT_EVENT,
        {
            "payment_id": payment_id,
            "kind": kind,
            "from_status": from_status,
            "to_status": to_status,
            "gateway": gateway,
            "external_id": external_id,
            "accepted": accepted,
            "reason": storable_text(reason),
            "body_sha256": body_sha256,
            "detail": detail,
            "created_at": now,
        },
    )


def claim_refund(conn: sa.Connection, payment: Payment, amount_minor: int, now: datetime) -> bool:
    """Take ``amount_minor`` out of what is left to refund, if it still is left."""
    result = conn.execute(
        sa.update(payments)
        .where(
            payments.c.id == payment.id,
            payments.c.status.in_([PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED]),
            payments.c.amount_minor - payments.c.refund_claimed_minor >= amount_minor,
        )
        .values(refund_claimed_minor=payments.c.refund_claimed_minor + amount_minor, updated_at=now)
    )
    return result.rowcount == 1


def release_refund_claim(
    conn: sa.Connection, payment_id: uuid.UUID, amount_minor: int, now: datetime
) -> None:
    """Give back a claim whose refund did not happen."""
    conn.execute(
        sa.update(payments)
        .where(payments.c.id == payment_id)
        .values(refund_claimed_minor=payments.c.refund_claimed_minor - amount_minor, updated_at=now)
    )


def settle_refund_amount(
    conn: sa.Connection, payment: Payment, amount_minor: int, now: datetime
) -> PaymentStatus:
    """Count a succeeded refund against the payment and move it to (partially) refunded."""
    refunded = payment.refunded_minor + amount_minor
    status = (
        PaymentStatus.REFUNDED
        if refunded == payment.amount_minor
        else PaymentStatus.PARTIALLY_REFUNDED
    )
    conn.execute(
        sa.update(payments)
        .where(payments.c.id == payment.id)
        .values(
            refunded_minor=payments.c.refunded_minor + amount_minor, status=status, updated_at=now
        )
    )
    return status


def insert_refund(
    conn: sa.Connection,
    *,
    refund_id: uuid.UUID,
    payment_id: uuid.UUID,
    amount_minor: int,
    gateway: str,
    now: datetime,
    sent: bool,
) -> None:
    """Write a ``pending`` refund; ``sent`` when it goes to the gateway right away."""
    conn.execute(
        sa.insert(refunds).values(
            id=refund_id,
            payment_id=payment_id,
            amount_minor=amount_minor,
            status=RefundStatus.PENDING,
            gateway=gateway,
            sent_at=now if sent else None,
            created_at=now,
            updated_at=now,
        )
    )


def mark_refund_sent(conn: sa.Connection, refund_id: uuid.UUID, now: datetime) -> None:
    """Note that the refund is about to reach the gateway, so a retry asks before re-sending."""
    conn.execute(
        sa.update(refunds)
        .where(refunds.c.id == refund_id, refunds.c.sent_at.is_(None))
        .values(sent_at=now, updated_at=now)
    )


def get_refund(conn: sa.Connection, refund_id: uuid.UUID) -> Refund | None:
    """The refund with that id."""
    row = (conn.execute(sa.select(refunds).where(refunds.c.id == refund_id))).one_or_none()
    return None if row is None else from_row(Refund, row)


def finish_refund(
    conn: sa.Connection,
    refund_id: uuid.UUID,
    *,
    status: RefundStatus,
    now: datetime,
    external_refund_id: str | None = None,
    failure_code: str | None = None,
) -> None:
    """Record how the gateway answered a refund."""
    conn.execute(
        sa.update(refunds)
        .where(refunds.c.id == refund_id)
        .values(
            status=status,
            external_refund_id=external_refund_id,
            failure_code=failure_code,
            updated_at=now,
        )
    )


def history(conn: sa.Connection, payment_id: uuid.UUID) -> PaymentHistory | None:
    """The payment with its attempts, refunds and events, oldest first."""
    payment = get_payment(conn, payment_id)
    if payment is None:
        return None
    attempts = conn.execute(
        sa.select(payment_attempts)
        .where(payment_attempts.c.payment_id == payment_id)
        .order_by(payment_attempts.c.id)
    )
    refund_rows = conn.execute(
        sa.select(refunds)
        .where(refunds.c.payment_id == payment_id)
        .order_by(refunds.c.created_at, refunds.c.id)
    )
    events = conn.execute(
        sa.select(payment_events)
        .where(payment_events.c.payment_id == payment_id)
        .order_by(payment_events.c.id)
    )
    return PaymentHistory(
        payment=payment,
        attempts=[from_row(Attempt, row) for row in attempts],
        refunds=[from_row(Refund, row) for row in refund_rows],
        events=[from_row(Event, row) for row in events],
    )
