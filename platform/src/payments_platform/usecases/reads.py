"""Reading payments: ``GET /payments/{id}`` and ``GET /payments``. A merchant reads only its own
payments: they are looked up by the merchant and its own id (:mod:`payments_platform.access`),
and listed by the merchant."""

from __future__ import annotations

import uuid

from payments_platform import errors
from payments_platform.records import PaymentHistory
from payments_platform.store import history, listing
from payments_platform.store.listing import Cursor, PaymentFilter, PaymentPage
from payments_platform.usecases.dependencies import Dependencies


async def payment_history(
    deps: Dependencies, client_id: uuid.UUID, *, merchant: str | None = None
) -> PaymentHistory:
    """The payment ``merchant`` calls ``client_id``, with its attempts, refunds and events."""

    found = await deps.database.read(
        lambda conn: history.find_for_client(conn, merchant, client_id), quick=True
    )
    if found is None:
        raise errors.PaymentNotFound(f"no payment with id {client_id}", field="id")
    return found


async def list_payments(
    deps: Dependencies,
    *,
    merchant: str | None,
    filters: PaymentFilter,
    after: Cursor | None = None,
    limit: int = 20,
) -> PaymentPage:
    """A page of ``merchant``'s payments that match ``filters``, newest first."""
    return await deps.database.read(
        lambda conn: listing.list_payments(
            conn, merchant=merchant, filters=filters, after=after, limit=limit
        )
    )
