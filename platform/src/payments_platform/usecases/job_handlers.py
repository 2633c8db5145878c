"""What a worker does with each kind of job from the outbox.

Every handler reads the current state first and does nothing when the work is done already, so
running a job twice changes nothing. A handler raises :class:`~payments_platform.jobs.RetryLater`
(or anything else) to be run again after a backoff; after its last attempt the job is dead.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from opentelemetry import trace

from payments_platform.jobs import Job, JobKind, RetryLater
from payments_platform.lifecycle import (
    NO_GATEWAY_AVAILABLE,
    PaymentStatus,
    RefundStatus,
    may_route_again,
    refund_has_answer,
)
from payments_platform.logs import payment_logged
from payments_platform.records import Payment
from payments_platform.store import payments, refunds
from payments_platform.telemetry import links_to
from payments_platform.usecases import captures, failover, initiate, notify, reconcile
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.expire import expire_payment
from payments_platform.usecases.refunds import send_refund
from payments_platform.worker import JobHandler

tracer = trace.get_tracer("payments_platform")


def job_handler(deps: Dependencies) -> JobHandler:
    """The handler a worker runs each claimed job through."""

    async def run(job: Job) -> None:
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
                await route_queued_payment(deps, job)
            elif job.kind is JobKind.RECONCILE:
                await reconcile.reconcile_payment(deps, job.payment_id)
            elif job.kind is JobKind.REFUND:
                await send_or_reconcile_refund(deps, job)
            elif job.kind is JobKind.EXPIRE:
                await expire_payment(deps, job.payment_id)
            elif job.kind is JobKind.CAPTURE:
                if job.capture_id is None:  # pragma: no cover - capture jobs always carry one
                    raise ValueError(f"capture job {job.id} names no capture")
                await captures.reconcile_capture(deps, job.capture_id)
            elif job.kind is JobKind.NOTIFY:
                await notify.deliver(deps, job)

    return run


async def route_queued_payment(deps: Dependencies, job: Job) -> None:
    """Route a queued payment; while no gateway can be reached it stays pending."""
    payment = await _read(deps, job)
    if may_route_again(payment.status, payment.failure_code):
        # An operator revived the job of a payment no gateway could take: try again.
        await deps.database.write(functools.partial(_reopen, deps=deps, payment=payment))
        payment = await _read(deps, job)
    if payment.status is not PaymentStatus.PENDING:
        return
    if await reconcile.abandon_in_flight(
        deps, payment, "its worker stopped during the gateway call"
    ):
        return
    routed = await failover.route_payment(deps, payment.id, final=job.is_last_attempt)
    if routed.failure_code == NO_GATEWAY_AVAILABLE:
        # The payment is rejected on the job's last attempt; the job is parked as dead so
        # that an operator sees the outage.
        raise RetryLater(f"no gateway could be reached in {job.attempts} attempts")


def _reopen(conn: sa.Connection, *, deps: Dependencies, payment: Payment) -> None:
    current = payments.load(conn, payment.id, for_update=True)
    same = initiate.PaymentRequest(
        amount=current.amount,
        metadata=current.metadata,
        description=current.description,
        return_url=current.return_url,
        capture=current.capture_mode,
    )
    initiate.reopen_for_repeat(conn, deps, current, same, deps.now())


async def send_or_reconcile_refund(deps: Dependencies, job: Job) -> None:
    """Send a queued refund; one sent before without a recorded answer is looked up first
    and sent again (under the same reference) only if the vendor never received it."""
    if job.refund_id is None:  # pragma: no cover - refund jobs always carry one
        raise ValueError(f"refund job {job.id} names no refund")
    refund_id = job.refund_id
    refund, payment = await deps.database.read(
        lambda conn: (refunds.get(conn, refund_id), payments.load(conn, job.payment_id))
    )
    if refund is None or refund_has_answer(refund.status):
        return
    if refund.sent_at is not None:
        if await reconcile.reconcile_refund(deps, payment, refund):
            return
    else:
        now = deps.now()
        await deps.database.write(lambda conn: refunds.mark_sent(conn, refund.id, now))
    outcome = await send_refund(deps, payment, refund, by_job=True, final=job.is_last_attempt)
    if outcome.refund.status is RefundStatus.UNKNOWN:
        raise RetryLater(f"refund {refund.id}: no usable answer from {refund.gateway}")


async def _read(deps: Dependencies, job: Job) -> Payment:
    return await deps.database.read(lambda conn: payments.load(conn, job.payment_id), quick=True)
