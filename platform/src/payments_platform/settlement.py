"""What workers do with jobs: route queued payments, send or reconcile refunds, reconcile
payments whose outcome is unknown, expire payments nobody paid.

Every handler is safe to run twice: it reads the current state first and does nothing when the
work is already done. A handler raises :class:`RetryLater` (or anything else) to be run again
after a backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

import sqlalchemy as sa
from payments_plugins import (
    GatewayError,
    RefundStatusQuery,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    VendorRefundStatus,
)

from payments_platform import ledger
from payments_platform.jobs import Job, JobKind, RetryLater
from payments_platform.lifecycle import PaymentStatus
from payments_platform.logs import payment_logged
from payments_platform.records import AttemptOutcome, Payment, Refund, RefundStatus
from payments_platform.telemetry import gateway_call, links_to
from payments_platform.usecases import (
    NO_GATEWAY_AVAILABLE,
    NOT_RECEIVED,
    RETRYABLE_REJECTIONS,
    Payments,
    tracer,
    unstorable_id,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

_SETTLED_BY_VENDOR = {
    VendorPaymentStatus.INITIATED: PaymentStatus.INITIATED,
    VendorPaymentStatus.PAID: PaymentStatus.PAID,
    VendorPaymentStatus.FAILED: PaymentStatus.FAILED,
    VendorPaymentStatus.EXPIRED: PaymentStatus.EXPIRED,
}


class Settlement:
    """The job handler of a worker: one method per job kind."""

    def __init__(self, payments: Payments) -> None:
        self.payments = payments

    async def __call__(self, job: Job) -> None:
        """Run one job."""
        with (
            tracer.start_as_current_span(
                f"payments.job.{job.kind}", links=links_to(job.trace_parent)
            ) as span,
            payment_logged(job.payment_id),
        ):
            span.set_attribute("job.id", job.id)
            span.set_attribute("job.attempt", job.attempts)
            span.set_attribute("payment.id", str(job.payment_id))
            if job.kind is JobKind.INITIATE:
                await self.initiate(job)
            elif job.kind is JobKind.RECONCILE:
                await self.reconcile(job)
            elif job.kind is JobKind.REFUND:
                await self.refund(job)
            elif job.kind is JobKind.EXPIRE:
                await self.expire(job)

    async def _payment(self, job: Job) -> Payment:
        return await self.payments.database.read(
            lambda conn: ledger.load_payment(conn, job.payment_id)
        )

    async def initiate(self, job: Job) -> None:
        """Route a queued payment; while no gateway can be reached it stays pending."""
        payment = await self._payment(job)
        if (
            payment.status is PaymentStatus.REJECTED
            and payment.failure_code in RETRYABLE_REJECTIONS
        ):
            # An operator revived the job of a payment no gateway could take: try again.
            now = self.payments.now()

            def retry(conn: sa.Connection) -> None:
                current = ledger.load_payment(conn, payment.id, for_update=True)
                self.payments.claim_retry(conn, current, current.amount, now)

            await self.payments.database.write(retry)
            payment = await self._payment(job)
        if payment.status is not PaymentStatus.PENDING:
            return
        if await self._abandon_in_flight(payment, "its worker stopped during the gateway call"):
            return
        routed = await self.payments.route(payment.id, payment.amount, final=job.is_last_attempt)
        if routed.failure_code == NO_GATEWAY_AVAILABLE:
            # The payment is rejected on the job's last attempt; the job is parked as dead so
            # that an operator sees the outage.
            raise RetryLater(f"no gateway could be reached in {job.attempts} attempts")

    async def reconcile(self, job: Job) -> None:
        """Find out from the gateway what became of a payment whose outcome is not recorded."""
        payment = await self._payment(job)
        if payment.status is PaymentStatus.PENDING:
            # The guard of a gateway call fired: the process making it stopped, or the call is
            # still going long past every timeout. Either way its answer cannot be waited for.
            await self._abandon_in_flight(payment, "no answer recorded in time")
            payment = await self._payment(job)
        if payment.status is not PaymentStatus.UNKNOWN:
            return
        gateway_name = payment.gateway or ""
        report = await self._vendor_status(payment)
        if report.status is VendorPaymentStatus.NOT_FOUND:
            await self.payments.database.write(
                lambda conn: self.payments.settle(
                    conn,
                    payment.id,
                    PaymentStatus.REJECTED,
                    reason=f"{gateway_name} has no such payment: it never arrived",
                    failure_code=NOT_RECEIVED,
                    gateway=gateway_name,
                    expected=(PaymentStatus.UNKNOWN,),
                )
            )
            return
        await self.payments.database.write(
            lambda conn: self.payments.settle(
                conn,
                payment.id,
                _SETTLED_BY_VENDOR[report.status],
                reason=f"reconciled: {gateway_name} reports {report.status}",
                gateway=gateway_name,
                external_id=report.external_id or payment.external_id,
                expected=(PaymentStatus.UNKNOWN,),
            )
        )

    async def _vendor_status(self, payment: Payment) -> StatusReport:
        """What the payment's gateway says about it; any doubt is a retry later."""
        gateway_name = payment.gateway or ""
        live = self.payments.gateways.get(gateway_name)
        if live is None:
            raise RetryLater(f"gateway {gateway_name!r} of the payment is not enabled")
        report = await _lookup(
            gateway_name,
            live.gateway.fetch_status(
                StatusQuery(payment_id=payment.id, external_id=payment.external_id)
            ),
        )
        _require_storable(gateway_name, "status", report.external_id)
        return report

    async def _abandon_in_flight(self, payment: Payment, why: str) -> bool:
        """Turn a pending payment whose call has no recorded end into ``unknown``.

        Returns whether there was such a call (the payment is then reconciled, never re-sent).
        """

        def abandon(conn: sa.Connection) -> bool:
            attempt = ledger.in_flight_attempt(conn, payment.id)
            if attempt is None:
                return False
            ledger.finish_attempt(
                conn,
                attempt.id,
                outcome=AttemptOutcome.UNKNOWN,
                error=why,
                now=self.payments.now(),
            )
            self.payments.settle(
                conn,
                payment.id,
                PaymentStatus.UNKNOWN,
                reason=f"call to {attempt.gateway} abandoned: {why}",
                gateway=attempt.gateway,
                expected=(PaymentStatus.PENDING,),
            )
            return True

        return await self.payments.database.write(abandon)

    async def refund(self, job: Job) -> None:
        """Send a queued refund, or settle one whose answer was lost by asking the gateway."""
        if job.refund_id is None:  # pragma: no cover - refund jobs always carry one
            raise ValueError(f"refund job {job.id} names no refund")
        refund_id = job.refund_id
        refund, payment = await self.payments.database.read(
            lambda conn: (
                ledger.get_refund(conn, refund_id),
                ledger.load_payment(conn, job.payment_id),
            )
        )
        if refund is None or refund.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
            return
        if refund.sent_at is not None:
            if await self._settle_from_vendor(payment, refund):
                return
        else:
            now = self.payments.now()
            await self.payments.database.write(
                lambda conn: ledger.mark_refund_sent(conn, refund.id, now)
            )
        outcome = await self.payments.send_refund(payment, refund, None, final=job.is_last_attempt)
        if outcome.refund.status is RefundStatus.UNKNOWN:
            raise RetryLater(f"refund {refund.id}: no usable answer from {refund.gateway}")

    async def _settle_from_vendor(self, payment: Payment, refund: Refund) -> bool:
        """Ask the gateway about a refund that was sent; True if that settled it."""
        gateway = refund.gateway
        live = self.payments.gateways.get(gateway)
        if live is None:
            raise RetryLater(f"gateway {gateway!r} that took the refund is not enabled")
        report = await _lookup(
            gateway,
            live.gateway.fetch_refund_status(
                RefundStatusQuery(refund_id=refund.id, external_id=payment.external_id or "")
            ),
            operation="refund_status",
        )
        _require_storable(gateway, "refund_status", report.external_refund_id)
        if report.status is VendorRefundStatus.SUCCEEDED:
            await self.payments.record_refund(
                refund,
                RefundStatus.SUCCEEDED,
                None,
                external_refund_id=report.external_refund_id,
                reason=f"reconciled: {gateway} reports it succeeded",
            )
            return True
        if report.status is VendorRefundStatus.FAILED:
            await self.payments.record_refund(
                refund,
                RefundStatus.FAILED,
                None,
                failure_code="declined",
                reason=f"reconciled: {gateway} reports it failed",
            )
            return True
        if report.status is VendorRefundStatus.PENDING:
            raise RetryLater(f"{gateway} is still processing refund {refund.id}")
        return False  # never arrived: send it (same reference, so at most one payout)

    async def expire(self, job: Job) -> None:
        """Close a payment still ``initiated`` past its age limit, unless the vendor knows
        better (a webhook that never arrived)."""
        payment = await self._payment(job)
        if payment.status is not PaymentStatus.INITIATED:
            return
        gateway_name = payment.gateway or ""
        report = await self._vendor_status(payment)
        status = {
            VendorPaymentStatus.PAID: PaymentStatus.PAID,
            VendorPaymentStatus.FAILED: PaymentStatus.FAILED,
        }.get(report.status, PaymentStatus.EXPIRED)
        await self.payments.database.write(
            lambda conn: self.payments.settle(
                conn,
                payment.id,
                status,
                reason=f"age limit reached; {gateway_name} reports {report.status}",
                gateway=gateway_name,
                expected=(PaymentStatus.INITIATED,),
            )
        )


def _require_storable(gateway: str, operation: str, vendor_id: str | None) -> None:
    """A lookup whose answer names an id the platform cannot store is retried later."""
    if vendor_id is not None and (why := unstorable_id(vendor_id)):
        raise RetryLater(f"{gateway} {operation} lookup: the answer names an id that {why}")


async def _lookup(gateway: str, call: Awaitable[T], operation: str = "status") -> T:
    """Await a status lookup, timed; a failed one is retried later."""
    with gateway_call(gateway, operation) as timing:
        try:
            answer = await call
        except GatewayError as error:
            timing["outcome"] = type(error).__name__
            raise RetryLater(f"{gateway} {operation} lookup failed: {error}") from error
        timing["outcome"] = "answered"
    return answer
