"""Reading payments: ``GET /payments/{id}``. A merchant reads only its own payments: they are
looked up by the merchant and its own id (:mod:`payments_platform.access`)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from payments_platform import errors
from payments_platform.records import PaymentHistory
from payments_platform.store import history, payments
from payments_platform.usecases.context import Platform


async def payment_history(
    platform: Platform, client_id: uuid.UUID, *, merchant: str | None = None
) -> PaymentHistory:
    """The payment ``merchant`` calls ``client_id``, with its attempts, refunds and events."""

    def read(conn: sa.Connection) -> PaymentHistory | None:
        payment = payments.find_for_client(conn, merchant, client_id)
        return None if payment is None else history.read(conn, payment.id)

    found = await platform.database.read(read)
    if found is None:
        raise errors.PaymentNotFound(f"no payment with id {client_id}", field="id")
    return found
