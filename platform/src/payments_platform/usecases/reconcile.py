"""Reconciliation: finding out from the gateway what became of a call whose answer was lost.

A payment is ``unknown`` when its gateway call ended with no usable answer, or when a worker's
sweep found the call still in flight past its time because the process making it died (or the
call outlived every timeout). A refund is ``unknown``, or ``pending`` and sent, for the same
reasons. Nothing is ever sent again
on a guess: the gateway is asked (``fetch_status``, ``fetch_refund_status``), and only a vendor
that says it never received the request gets it again, under the same reference. A lookup that
fails, or whose answer cannot be stored, is retried later by the job.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlalchemy as sa
from payments_plugins import (
    Gateway,
    RefundStatusQuery,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VendorRefundStatus,
)

from payments_platform.jobs import RetryLater
from payments_platform.lifecycle import (
    NOT_RECEIVED,
    AttemptOutcome,
    PaymentStatus,
    RefundStatus,
    payment_status_reported,
    refund_status_reported,
)
from payments_platform.records import Payment, Refund
from payments_platform.store import attempts, payments
from payments_platform.usecases import webhooks
from payments_platform.usecases.context import Platform
from payments_platform.usecases.gateway_call import call_gateway
from payments_platform.usecases.refunds import record_refund
from payments_platform.usecases.transitions import transition

T = TypeVar("T")


async def reconcile_payment(platform: Platform, payment_id: uuid.UUID) -> None:
    """Settle a payment whose outcome is not recorded from what its gateway says."""
    payment = await _read_payment(platform, payment_id)
    if payment.status is PaymentStatus.PENDING:
        # The guard of a gateway call fired: the process making it stopped, or the call is
        # still going long past every timeout. Either way its answer cannot be waited for.
        await abandon_in_flight(platform, payment, "no answer recorded in time")
        payment = await _read_payment(platform, payment_id)
    if payment.status is not PaymentStatus.UNKNOWN:
        return
    report = await ask_payment_status(platform, payment)
    await platform.database.write(
        functools.partial(record_reconciled, platform=platform, payment=payment, report=report)
    )


def record_reconciled(
    conn: sa.Connection, *, platform: Platform, payment: Payment, report: StatusReport
) -> None:
    """Move an ``unknown`` payment to where its gateway says it stands."""
    gateway = payment.gateway or ""
    reported = payment_status_reported(report.status)
    if reported is None:
        transition(
            conn,
            platform,
            payment.id,
            PaymentStatus.REJECTED,
            reason=f"{gateway} has no such payment: it never arrived",
            failure_code=NOT_RECEIVED,
            gateway=gateway,
            expected=(PaymentStatus.UNKNOWN,),
        )
        return
    external_id = report.external_id or payment.external_id
    moved = transition(
        conn,
        platform,
        payment.id,
        reported,
        reason=f"reconciled: {gateway} reports {report.status}",
        gateway=gateway,
        external_id=external_id,
        expected=(PaymentStatus.UNKNOWN,),
    )
    if moved.moved and external_id is not None:
        webhooks.replay_early_webhooks(conn, platform, moved.payment)


async def abandon_in_flight(platform: Platform, payment: Payment, why: str) -> bool:
    """Turn a pending payment whose call has no recorded end into ``unknown``.

    Returns whether there was such a call (the payment is then reconciled, never re-sent).
    """
    return await platform.database.write(
        functools.partial(_abandon, platform=platform, payment_id=payment.id, why=why)
    )


def _abandon(conn: sa.Connection, *, platform: Platform, payment_id: uuid.UUID, why: str) -> bool:
    attempt = attempts.in_flight(conn, payment_id)
    if attempt is None:
        return False
    attempts.finish(conn, attempt.id, outcome=AttemptOutcome.UNKNOWN, error=why, now=platform.now())
    transition(
        conn,
        platform,
        payment_id,
        PaymentStatus.UNKNOWN,
        reason=f"call to {attempt.gateway} abandoned: {why}",
        gateway=attempt.gateway,
        expected=(PaymentStatus.PENDING,),
    )
    return True


async def reconcile_refund(platform: Platform, payment: Payment, refund: Refund) -> bool:
    """Ask the gateway about a refund that was sent; True if its answer decided the refund.

    False means the vendor never received it: it may be sent again under the same reference,
    which can pay out at most once.
    """
    report = await ask_refund_status(platform, payment, refund)
    status = refund_status_reported(report.status)
    if status is not None:
        code = "declined" if status is RefundStatus.FAILED else None
        await platform.database.write(
            functools.partial(
                record_refund,
                platform=platform,
                refund=refund,
                status=status,
                by_job=True,
                external_refund_id=report.external_refund_id,
                failure_code=code,
                reason=f"reconciled: {refund.gateway} reports it {report.status}",
            )
        )
        return True
    if report.status is VendorRefundStatus.PENDING:
        raise RetryLater(f"{refund.gateway} is still processing refund {refund.id}")
    return False


async def ask_payment_status(platform: Platform, payment: Payment) -> StatusReport:
    """What the payment's gateway says about it; any doubt is a retry later."""
    gateway = payment.gateway or ""
    query = StatusQuery(payment_id=payment.id, external_id=payment.external_id)
    return await _lookup(
        platform,
        gateway,
        "status",
        lambda live: live.fetch_status(query),
        lambda answer: answer.external_id,
    )


async def ask_refund_status(
    platform: Platform, payment: Payment, refund: Refund
) -> RefundStatusReport:
    """What the refund's gateway says about it; any doubt is a retry later."""
    query = RefundStatusQuery(refund_id=refund.id, external_id=payment.external_id or "")
    return await _lookup(
        platform,
        refund.gateway,
        "refund_status",
        lambda live: live.fetch_refund_status(query),
        lambda answer: answer.external_refund_id,
    )


async def _lookup(
    platform: Platform,
    gateway: str,
    operation: str,
    send: Callable[[Gateway], Awaitable[T]],
    vendor_id: Callable[[T], str | None],
) -> T:
    """Make a lookup; one that cannot be made or gets no usable answer is retried later."""
    if gateway not in platform.gateways:
        raise RetryLater(f"gateway {gateway!r} is not enabled")
    result = await call_gateway(platform, gateway, operation, send, vendor_id=vendor_id)
    if result.answer is None:
        raise RetryLater(f"{gateway} {operation} lookup failed: {result.error}") from result.failure
    return result.answer


async def _read_payment(platform: Platform, payment_id: uuid.UUID) -> Payment:
    return await platform.database.read(lambda conn: payments.load(conn, payment_id), quick=True)
