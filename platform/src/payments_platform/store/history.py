"""A payment with everything that happened to it, read in one transaction."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from payments_platform.records import Payment, PaymentHistory
from payments_platform.store import attempts, events, notifications, payments, refunds


def read(conn: sa.Connection, payment_id: uuid.UUID) -> PaymentHistory | None:
    """The payment with its attempts, refunds and events, oldest first; None if unknown."""
    payment = payments.get(conn, payment_id)
    return None if payment is None else of(conn, payment)


def of(conn: sa.Connection, payment: Payment) -> PaymentHistory:
    """The history of ``payment``, read in the caller's transaction."""
    return PaymentHistory(
        payment=payment,
        attempts=attempts.of_payment(conn, payment.id),
        refunds=refunds.of_payment(conn, payment.id),
        events=events.of_payment(conn, payment.id),
        notifications=notifications.of_payment(conn, payment.id),
    )
