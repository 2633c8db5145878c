"""Reading payments: ``GET /payments/{id}``. A caller reads only what it may see
(:func:`payments_platform.access.may_see`)."""

from __future__ import annotations

import uuid

from payments_platform import errors
from payments_platform.access import may_see
from payments_platform.records import PaymentHistory
from payments_platform.store import history
from payments_platform.usecases.context import Platform


async def payment_history(
    platform: Platform, payment_id: uuid.UUID, *, merchant: str | None = None
) -> PaymentHistory:
    """The payment with its attempts, refunds and events, if ``merchant`` may see it."""
    found = await platform.database.read(lambda conn: history.read(conn, payment_id))
    if found is None or not may_see(found.payment, merchant):
        raise errors.PaymentNotFound(f"no payment with id {payment_id}", field="id")
    return found
