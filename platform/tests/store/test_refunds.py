"""The refunds' conditional updates (``store/refunds``), each on its own, on both backends."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from payments_platform.lifecycle import PaymentStatus, RefundStatus
from payments_platform.store import refunds

from store.payment_rows import LATER, NOW, InTransaction, new_payment


async def test_a_refund_settles_only_from_the_status_expected(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        payment = new_payment(conn, PaymentStatus.PAID)
        refund = refunds.insert(
            conn,
            refund_id=uuid.uuid4(),
            payment_id=payment.id,
            merchant="shop",
            client_refund_id=uuid.uuid4(),
            amount_minor=400,
            gateway="acme",
            now=NOW,
            sent=True,
        )
        assert refund is not None
        succeeded = refunds.finish(
            conn,
            refund.id,
            expected=[refund.status],
            status=RefundStatus.SUCCEEDED,
            external_refund_id="vr-1",
            now=LATER,
        )
        assert succeeded is not None
        assert succeeded.status is RefundStatus.SUCCEEDED
        # A late answer read the refund before it succeeded: it must not overwrite it.
        late = refunds.finish(
            conn,
            refund.id,
            expected=[refund.status],
            status=RefundStatus.FAILED,
            failure_code="declined",
            now=LATER,
        )
        assert late is None
        assert refunds.load(conn, refund.id) == succeeded

    await in_transaction(body)
