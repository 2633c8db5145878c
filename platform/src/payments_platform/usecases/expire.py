"""Expiry: what runs when a payment has waited ``initiated`` for too long.

Its ``expire`` job, written when the payment became ``initiated``, falls due after
``payments.expire_after_seconds``. A payment that moved on meanwhile is left alone. Otherwise
the gateway is asked once more, since its webhook may have been lost: a payment it reports paid
or failed becomes so, any other is expired. A payment the platform expires while its vendor
still reports it waiting is marked ``age-limit``: should the payer pay after all, the vendor's
word moves it to ``paid`` (:data:`~payments_platform.lifecycle.RECOVERIES`).
"""

from __future__ import annotations

import functools
import uuid

import sqlalchemy as sa
from payments_plugins import StatusReport

from payments_platform.lifecycle import AGE_LIMIT, PaymentStatus, payment_status_reported
from payments_platform.records import Payment
from payments_platform.store import payments
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.reconcile import ask_payment_status
from payments_platform.usecases.transitions import StatusChange, change_status

_REPORTS_KEPT = frozenset({PaymentStatus.PAID, PaymentStatus.FAILED})
"""What the vendor may still say of a payment that reached its age limit."""


async def expire_payment(deps: Dependencies, payment_id: uuid.UUID) -> None:
    """Close a payment still ``initiated`` past its age limit, unless the vendor knows better."""
    payment = await deps.database.read(lambda conn: payments.load(conn, payment_id), quick=True)
    if payment.status is not PaymentStatus.INITIATED:
        return
    report = await ask_payment_status(deps, payment)
    await deps.database.write(
        functools.partial(record_expiry, deps=deps, payment=payment, report=report)
    )


def record_expiry(
    conn: sa.Connection, *, deps: Dependencies, payment: Payment, report: StatusReport
) -> None:
    """Move the payment as its gateway's last word says, or to ``expired``."""
    reported = payment_status_reported(report.status)
    if reported is not None and reported in _REPORTS_KEPT:
        status, failure_code = reported, None
    elif reported is PaymentStatus.EXPIRED:
        status, failure_code = PaymentStatus.EXPIRED, None
    else:
        status, failure_code = PaymentStatus.EXPIRED, AGE_LIMIT
    change_status(
        conn,
        deps,
        payment.id,
        StatusChange(
            status=status,
            reason=f"age limit reached; {payment.gateway} reports {report.status}",
            failure_code=failure_code,
            gateway=payment.gateway,
            expected=(PaymentStatus.INITIATED,),
        ),
    )
