"""The ``payments`` table: one row per client payment id, which is also its lock."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from payments_platform.lifecycle import REFUNDABLE, PaymentStatus
from payments_platform.records import Payment, from_row
from payments_platform.schema import payments

# Statements on the hot path are built once: building one costs more than running it.
# Any unique key conflicts (the id, or the merchant's client id of a row written before ids
# were derived per merchant): either way the id is taken.
_INSERT = {
    "postgresql": postgresql.insert(payments).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(payments).on_conflict_do_nothing(),
}
_SELECT = sa.select(payments).where(payments.c.id == sa.bindparam("payment_id"))
_SELECT_FOR_UPDATE = _SELECT.with_for_update()


def _of_client(merchant: str | None, client_id: uuid.UUID) -> sa.Select[Any]:
    owner = payments.c.merchant.is_(None) if merchant is None else payments.c.merchant == merchant
    return sa.select(payments).where(owner, payments.c.client_id == client_id)


def insert(
    conn: sa.Connection,
    *,
    payment_id: uuid.UUID,
    merchant: str | None,
    client_id: uuid.UUID,
    currency: str,
    amount_minor: int,
    metadata: Mapping[str, str],
    description: str | None,
    now: datetime,
) -> bool:
    """Write a new ``pending`` payment; False if the id is taken (the row is left alone)."""
    values = {
        "metadata": dict(metadata),
        "description": description,
        "id": payment_id,
        "merchant": merchant,
        "client_id": client_id,
        "currency": currency,
        "amount_minor": amount_minor,
        "status": PaymentStatus.PENDING,
        "created_at": now,
        "updated_at": now,
    }
    result = conn.execute(_INSERT[conn.dialect.name], values)
    return result.rowcount == 1


def get(conn: sa.Connection, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment | None:
    """The payment, optionally locking its row until the transaction ends."""
    query = _SELECT_FOR_UPDATE if for_update else _SELECT
    row = conn.execute(query, {"payment_id": payment_id}).one_or_none()
    return None if row is None else from_row(Payment, row)


def load(conn: sa.Connection, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment:
    """A payment known to exist (payments are never deleted)."""
    payment = get(conn, payment_id, for_update=for_update)
    if payment is None:
        raise LookupError(f"payment {payment_id} is missing from the database")
    return payment


def find_for_client(
    conn: sa.Connection, merchant: str | None, client_id: uuid.UUID, *, for_update: bool = False
) -> Payment | None:
    """The payment ``merchant`` (None: the open API) calls ``client_id``, optionally locked."""
    query = _of_client(merchant, client_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    return None if row is None else from_row(Payment, row)


def find_by_external_id(
    conn: sa.Connection, gateways: Sequence[str], external_id: str, *, for_update: bool = False
) -> Payment | None:
    """The payment one of ``gateways`` knows as ``external_id``."""
    query = sa.select(payments).where(
        payments.c.gateway.in_(gateways), payments.c.external_id == external_id
    )
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query.limit(1)).one_or_none()
    return None if row is None else from_row(Payment, row)


def move(
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


def claim_refund_amount(
    conn: sa.Connection, payment: Payment, amount_minor: int, now: datetime
) -> bool:
    """Take ``amount_minor`` out of what is left to refund, if it still is left.

    The condition is checked by the database against the row as it is now, not as ``payment``
    was read: it is the claim's own guard, whatever lock its caller holds.
    """
    result = conn.execute(
        sa.update(payments)
        .where(
            payments.c.id == payment.id,
            payments.c.status.in_(list(REFUNDABLE)),
            payments.c.amount_minor - payments.c.refund_claimed_minor >= amount_minor,
        )
        .values(refund_claimed_minor=payments.c.refund_claimed_minor + amount_minor, updated_at=now)
    )
    return result.rowcount == 1


def release_refund_amount(
    conn: sa.Connection, payment_id: uuid.UUID, amount_minor: int, now: datetime
) -> None:
    """Give back the claim of a refund that did not happen."""
    conn.execute(
        sa.update(payments)
        .where(payments.c.id == payment_id)
        .values(refund_claimed_minor=payments.c.refund_claimed_minor - amount_minor, updated_at=now)
    )


def count_refunded(
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
