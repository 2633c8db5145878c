"""Payments as the store writes them, for tests of its statements."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from payments_platform.lifecycle import PaymentStatus
from payments_platform.records import Payment
from payments_platform.store import payments

InTransaction = Callable[[Callable[[sa.Connection], None]], Awaitable[None]]
"""What ``in_transaction`` gives a test: run a body in one write transaction."""

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def new_payment(conn: sa.Connection, status: PaymentStatus) -> Payment:
    """A payment of 10.00 EUR of the merchant ``shop``, stored at ``status`` (as of NOW)."""
    payment_id = uuid.uuid4()
    assert payments.insert(
        conn,
        payment_id=payment_id,
        merchant="shop",
        client_id=uuid.uuid4(),
        currency="EUR",
        amount_minor=1000,
        metadata={"order": "42"},
        description=None,
        now=NOW,
    )
    if status is not PaymentStatus.PENDING:
        moved = payments.change(
            conn, payment_id, expected=PaymentStatus.PENDING, status=status, now=NOW
        )
        assert moved is not None
    return payments.load(conn, payment_id)
