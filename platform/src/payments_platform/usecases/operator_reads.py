"""What the console reads about one payment: everything stored about it, in one transaction.

Operators see every payment, whichever merchant it belongs to: the console has no merchant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from payments_platform import jobs
from payments_platform.jobs import Job
from payments_platform.records import Event, PaymentHistory
from payments_platform.store import events, history
from payments_platform.usecases.context import Platform


@dataclass(frozen=True)
class PaymentFile:
    """A payment's history, its jobs, and the webhooks that named its external id before the
    payment was known by it (and were kept, not applied)."""

    history: PaymentHistory
    jobs: list[Job]
    early_webhooks: list[Event]


async def payment_file(platform: Platform, payment_id: uuid.UUID) -> PaymentFile | None:
    """Everything stored about the payment; None if there is no such payment."""
    return await platform.database.read(lambda conn: _read(conn, payment_id))


def _read(conn: sa.Connection, payment_id: uuid.UUID) -> PaymentFile | None:
    found = history.read(conn, payment_id)
    if found is None:
        return None
    payment = found.payment
    early = []
    if payment.gateway is not None and payment.external_id is not None:
        early = events.unmatched_webhooks(conn, [payment.gateway], payment.external_id)
    return PaymentFile(history=found, jobs=jobs.of_payment(conn, payment_id), early_webhooks=early)
