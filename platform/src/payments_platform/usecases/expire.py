"""Expiry: what runs when a payment has waited ``initiated`` for too long.

Its ``expire`` job, written when the payment became ``initiated``, falls due after
``payments.expire_after_seconds``. A payment that moved on meanwhile is left alone. Otherwise
the gateway is asked once more, since its webhook may have been lost: a payment it reports paid
or failed becomes so, any other is expired. A payment the platform expires while its vendor
still reports it waiting is marked ``age-limit``: should the payer pay after all, the vendor's
word moves it to ``paid`` (:data:`~payments_platform.lifecycle.RECOVERIES`).

An authorization (a payment taken with manual capture, authorized or partially captured) gets
its ``expire`` job when its vendor says when it lapses, or at once when the vendor refused a
capture because it lapsed. The vendor is asked first: what it reports stands (captured, voided,
expired; a partially captured payment whose authorization lapsed is paid of what was captured);
one it still holds past its expiry as the vendor gives it is looked at again then; otherwise the
authorization is expired (``age-limit``).
"""

from __future__ import annotations

import functools
import uuid

import sqlalchemy as sa
from payments_plugins import StatusReport, VendorPaymentStatus

from payments_platform.jobs import RetryLater
from payments_platform.lifecycle import (
    AGE_LIMIT,
    CAPTURABLE,
    PaymentStatus,
    as_reported_for,
    can_transition,
    payment_status_reported,
)
from payments_platform.records import Payment
from payments_platform.store import payments
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.reconcile import ask_payment_status, authorization_reported
from payments_platform.usecases.transitions import StatusChange, change_status

_REPORTS_KEPT = frozenset({PaymentStatus.PAID, PaymentStatus.FAILED, PaymentStatus.AUTHORIZED})
"""What the vendor may still say of a payment that reached its age limit."""


async def expire_payment(deps: Dependencies, payment_id: uuid.UUID) -> None:
    """Close a payment still ``initiated`` past its age limit, or an authorization past its
    expiry, unless the vendor knows better."""
    payment = await deps.database.read(lambda conn: payments.load(conn, payment_id), quick=True)
    if payment.status in CAPTURABLE:
        report = await ask_payment_status(deps, payment)
        if report.status is VendorPaymentStatus.AUTHORIZED:
            held_until = report.authorization_expires_at or payment.authorization_expires_at
            if held_until is None:
                return  # the vendor holds it and gave no expiry (an initiated payment's job)
            wait = (held_until - deps.now()).total_seconds()
            if wait > 0:
                raise RetryLater(
                    f"{payment.gateway} holds the authorization until {held_until:%H:%M:%S}",
                    retry_in=wait,
                    spend_attempt=False,
                )
        await deps.database.write(
            functools.partial(record_lapse, deps=deps, payment=payment, report=report)
        )
        return
    if payment.status is not PaymentStatus.INITIATED:
        return
    report = await ask_payment_status(deps, payment)
    await deps.database.write(
        functools.partial(record_expiry, deps=deps, payment=payment, report=report)
    )


def record_expiry(
    conn: sa.Connection, *, deps: Dependencies, payment: Payment, report: StatusReport
) -> None:
    """Move the payment as its gateway's last word says (authorized, when the payer of a
    payment taken with manual capture completed it), or to ``expired``."""
    reported = as_reported_for(
        payment.status, payment_status_reported(report.status), manual=payment.manual
    )
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
            **authorization_reported(report),
        ),
    )


def record_lapse(
    conn: sa.Connection, *, deps: Dependencies, payment: Payment, report: StatusReport
) -> None:
    """Move an authorization past its expiry as its gateway's last word says, or to
    ``expired``."""
    reported = as_reported_for(
        payment.status, payment_status_reported(report.status), manual=payment.manual
    )
    failure_code = None
    if reported is None or reported is payment.status or reported is PaymentStatus.AUTHORIZED:
        # The vendor still holds it past its expiry, or says nothing of it: the platform ends
        # it (a partially captured one is paid of what was captured).
        reported = as_reported_for(payment.status, PaymentStatus.EXPIRED, manual=True)
        failure_code = AGE_LIMIT if reported is PaymentStatus.EXPIRED else None
    if reported is None or not can_transition(payment.status, reported):
        return
    change_status(
        conn,
        deps,
        payment.id,
        StatusChange(
            status=reported,
            reason=f"authorization expiry reached; {payment.gateway} reports {report.status}",
            failure_code=failure_code,
            gateway=payment.gateway,
            expected=(payment.status,),
        ),
    )
