"""Reconciliation: finding out from the gateway what became of a call whose answer was lost.

A payment is ``unknown`` when its gateway call ended with no usable answer, or when a worker's
sweep found the call still in flight past its time because the process making it died (or the
call outlived every timeout). A refund is ``unknown``, or ``pending`` and sent, for the same
reasons. Nothing is ever sent again
on a guess: the gateway is asked (``fetch_status``, ``fetch_refund_status``), and only a vendor
that says it never received the request gets it again, under the same reference. A lookup that
fails, or whose answer cannot be stored, is retried later by the job.

A vendor's "no such payment" is believed only once the call is surely over: a call left behind
at its deadline may still be in the vendor's queue. Until ``reconcile_after_seconds`` after the
call started, that answer is asked again later. Should the vendor take the payment after all,
its word moves the payment (:data:`~payments_platform.lifecycle.RECOVERIES`), through a webhook
or an operator asking again (:func:`recheck_given_up`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from payments_plugins import (
    Gateway,
    RefundStatusQuery,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    VendorRefundStatus,
)

from payments_platform.jobs import RetryLater
from payments_platform.lifecycle import (
    NOT_RECEIVED,
    AttemptOutcome,
    PaymentStatus,
    RefundStatus,
    WebhookVerdict,
    as_reported_for,
    given_up_by_platform,
    payment_status_reported,
    refund_status_reported,
)
from payments_platform.records import Payment, Refund
from payments_platform.store import attempts, payments
from payments_platform.usecases import webhooks
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.gateway_call import call_gateway
from payments_platform.usecases.refunds import record_refund
from payments_platform.usecases.transitions import StatusChange, change_status

T = TypeVar("T")


async def reconcile_payment(deps: Dependencies, payment_id: uuid.UUID) -> None:
    """Settle a payment whose outcome is not recorded from what its gateway says."""
    payment = await _read_payment(deps, payment_id)
    if payment.status is PaymentStatus.PENDING:
        # The guard of a gateway call fired: the process making it stopped, or the call is
        # still going long past every timeout. Either way its answer cannot be waited for.
        await abandon_in_flight(deps, payment, "no answer recorded in time")
        payment = await _read_payment(deps, payment_id)
    if payment.status is PaymentStatus.CANCELLING:
        report = await ask_payment_status(deps, payment)
        await deps.database.write(
            functools.partial(record_cancel_reconciled, deps=deps, payment=payment, report=report)
        )
        return
    if payment.status is not PaymentStatus.UNKNOWN:
        return
    report = await ask_payment_status(deps, payment)
    if report.status is VendorPaymentStatus.NOT_FOUND:
        await _believe_not_found(deps, payment)
    await deps.database.write(
        functools.partial(record_reconciled, deps=deps, payment=payment, report=report)
    )


async def _believe_not_found(deps: Dependencies, payment: Payment) -> None:
    """Raise :class:`RetryLater` while the payment's last call may still reach its vendor."""
    attempt = await deps.database.read(lambda conn: attempts.latest(conn, payment.id), quick=True)
    if attempt is None:
        return
    wait = _seconds_until(attempt.started_at, deps.lifecycle.reconcile_after_seconds, deps)
    if wait > 0:
        raise RetryLater(
            f"{payment.gateway} has no such payment yet; the call made at"
            f" {attempt.started_at:%H:%M:%S} may still reach it: asking again in {wait:.0f} s",
            retry_in=wait,
            spend_attempt=False,
        )


def _seconds_until(started_at: datetime, after_seconds: float, deps: Dependencies) -> float:
    return after_seconds - (deps.now() - started_at).total_seconds()


def record_reconciled(
    conn: sa.Connection, *, deps: Dependencies, payment: Payment, report: StatusReport
) -> None:
    """Move an ``unknown`` payment to where its gateway says it stands."""
    gateway = payment.gateway or ""
    reported = payment_status_reported(report.status)
    if reported is None:
        change_status(
            conn,
            deps,
            payment.id,
            StatusChange(
                status=PaymentStatus.REJECTED,
                reason=f"{gateway} has no such payment: it never arrived",
                failure_code=NOT_RECEIVED,
                gateway=gateway,
                expected=(PaymentStatus.UNKNOWN,),
            ),
        )
        return
    external_id = report.external_id or payment.external_id
    reported = as_reported_for(payment.status, reported, manual=payment.manual)
    if reported is None:
        raise RetryLater(f"{gateway} reports {report.status} of an automatic payment")
    moved = change_status(
        conn,
        deps,
        payment.id,
        StatusChange(
            status=reported,
            reason=f"reconciled: {gateway} reports {report.status}",
            gateway=gateway,
            external_id=external_id,
            expected=(PaymentStatus.UNKNOWN,),
            **authorization_reported(report),
        ),
    )
    if moved.moved and external_id is not None:
        webhooks.replay_early_webhooks(conn, deps, moved.payment)


def record_cancel_reconciled(
    conn: sa.Connection, *, deps: Dependencies, payment: Payment, report: StatusReport
) -> None:
    """Move a ``cancelling`` payment, whose cancel got no usable answer, to where its gateway
    says it stands: cancelled, paid, or still payable (the cancel never took effect; it is not
    sent again)."""
    reported = as_reported_for(
        payment.status, payment_status_reported(report.status), manual=payment.manual
    )
    if reported is None:
        raise RetryLater(f"{payment.gateway} has no payment {payment.external_id} any more")
    change_status(
        conn,
        deps,
        payment.id,
        StatusChange(
            **authorization_reported(report),
            status=reported,
            reason=f"reconciled: {payment.gateway} reports {report.status} after a cancel"
            " without a usable answer",
            expected=(PaymentStatus.CANCELLING,),
            gateway=payment.gateway,
        ),
    )


def authorization_reported(report: StatusReport) -> dict[str, Any]:
    """What a status report says of an authorization, as :class:`StatusChange` takes it."""
    return {
        "authorized_minor": None if report.authorized is None else report.authorized.minor,
        "authorization_expires_at": report.authorization_expires_at,
    }


async def abandon_in_flight(deps: Dependencies, payment: Payment, why: str) -> bool:
    """Turn a pending payment whose call has no recorded end into ``unknown``.

    Returns whether there was such a call (the payment is then reconciled, never re-sent).
    """
    return await deps.database.write(
        functools.partial(_abandon, deps=deps, payment_id=payment.id, why=why)
    )


def _abandon(conn: sa.Connection, *, deps: Dependencies, payment_id: uuid.UUID, why: str) -> bool:
    attempt = attempts.in_flight(conn, payment_id)
    if attempt is None:
        return False
    attempts.finish(conn, attempt.id, outcome=AttemptOutcome.UNKNOWN, error=why, now=deps.now())
    change_status(
        conn,
        deps,
        payment_id,
        StatusChange(
            status=PaymentStatus.UNKNOWN,
            reason=f"call to {attempt.gateway} abandoned: {why}",
            gateway=attempt.gateway,
            expected=(PaymentStatus.PENDING,),
        ),
    )
    return True


async def reconcile_refund(deps: Dependencies, payment: Payment, refund: Refund) -> bool:
    """Ask the gateway about a refund that was sent; True if its answer decided the refund.

    False means the vendor never received it: it may be sent again under the same reference,
    which can pay out at most once.
    """
    report = await ask_refund_status(deps, payment, refund)
    status = refund_status_reported(report.status)
    if status is not None:
        code = "declined" if status is RefundStatus.FAILED else None
        await deps.database.write(
            functools.partial(
                record_refund,
                deps=deps,
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


async def recheck_given_up(deps: Dependencies, payment_id: uuid.UUID) -> None:
    """Ask the gateways of a payment the platform gave up on by its own judgement whether they
    took it after all; a vendor's word that it took the money moves the payment to ``paid``.

    Each gateway the payment was sent to is asked, the last first, until one knows it.
    """
    payment = await _read_payment(deps, payment_id)
    if not given_up_by_platform(payment.status, payment.failure_code):
        return
    tried = await deps.database.read(
        lambda conn: [attempt.gateway for attempt in attempts.of_payment(conn, payment_id)]
    )
    for gateway in dict.fromkeys(reversed(tried)):
        report = await ask_payment_status(deps, payment, gateway)
        if report.status is not VendorPaymentStatus.NOT_FOUND:
            await deps.database.write(
                functools.partial(
                    record_recheck,
                    deps=deps,
                    payment=payment,
                    report=report,
                    gateway=gateway,
                )
            )
            return


def record_recheck(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    payment: Payment,
    report: StatusReport,
    gateway: str,
) -> None:
    """Take what ``gateway`` says of a payment the platform gave up on."""
    current = payments.load(conn, payment.id, for_update=True)
    reported = payment_status_reported(report.status)
    said = f"{gateway} reports {report.status}"
    webhooks.take_report(
        conn,
        deps,
        current,
        reported,
        kind="status_lookup",
        gateway=gateway,
        reasons={
            WebhookVerdict.APPLY: said,
            WebhookVerdict.RECOVER: (
                f"{said} after the platform had given the payment up ({current.status},"
                f" {current.failure_code}): the vendor took the money"
            ),
            WebhookVerdict.REPEAT: f"{said}; nothing changes",
            WebhookVerdict.CONTRADICTS: f"{said}; the payment stays {current.status}",
        },
        body_sha256=None,
        now=deps.now(),
        detail={"status": str(report.status), "external_id": report.external_id},
        learned=(gateway, report.external_id) if report.external_id else None,
    )


async def ask_payment_status(
    deps: Dependencies, payment: Payment, gateway: str | None = None
) -> StatusReport:
    """What the payment's gateway (or ``gateway``) says about it; any doubt is a retry later."""
    gateway = gateway or payment.gateway or ""
    known = payment.external_id if gateway == payment.gateway else None
    query = StatusQuery(payment_id=payment.id, external_id=known)
    return await _lookup(
        deps,
        gateway,
        "status",
        lambda live: live.fetch_status(query),
        lambda answer: answer.external_id,
    )


async def ask_refund_status(
    deps: Dependencies, payment: Payment, refund: Refund
) -> RefundStatusReport:
    """What the refund's gateway says about it; any doubt is a retry later."""
    query = RefundStatusQuery(refund_id=refund.id, external_id=payment.external_id or "")
    return await _lookup(
        deps,
        refund.gateway,
        "refund_status",
        lambda live: live.fetch_refund_status(query),
        lambda answer: answer.external_refund_id,
    )


async def _lookup(
    deps: Dependencies,
    gateway: str,
    operation: str,
    send: Callable[[Gateway], Awaitable[T]],
    vendor_id: Callable[[T], str | None],
) -> T:
    """Make a lookup; one that cannot be made or gets no usable answer is retried later."""
    if gateway not in deps.gateways:
        raise RetryLater(f"gateway {gateway!r} is not enabled")
    result = await call_gateway(deps, gateway, operation, send, vendor_id=vendor_id)
    if result.answer is None:
        raise RetryLater(f"{gateway} {operation} lookup failed: {result.error}") from result.failure
    return result.answer


async def _read_payment(deps: Dependencies, payment_id: uuid.UUID) -> Payment:
    return await deps.database.read(lambda conn: payments.load(conn, payment_id), quick=True)
