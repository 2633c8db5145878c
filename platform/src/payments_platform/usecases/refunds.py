"""Refunding a payment: ``POST /refund``.

When a refund may be sent: the payment is the caller's, it is paid (or partially refunded),
and the amount asked for is still left once refunds in flight are counted as taken. One
transaction claims it: it locks the payment's row, answers a known refund id with that refund,
takes the amount out of what is left with a conditional update (the claim's own guard, whatever
the lock), and writes the ``pending`` refund, sent from now on (should this process die before
the answer is recorded, a worker's sweep finds it overdue and reconciles it), or with the job
that sends it when dispatch is queued. With the transaction committed the gateway is called,
the refund id being the vendor's idempotency reference so that sending it again never pays out
twice, and the answer is recorded in another transaction. A refund whose answer was lost is found by
:func:`~payments_platform.usecases.reconcile.reconcile_refund`.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from payments_plugins import Amount, RefundRequest, RefundResult

from payments_platform import errors
from payments_platform.access import payment_key, refund_key
from payments_platform.jobs import JobKind, RetryLater
from payments_platform.lifecycle import (
    GATEWAY_NOT_ENABLED,
    GATEWAY_UNAVAILABLE,
    REFUNDABLE,
    AttemptOutcome,
    RefundStatus,
    refund_can_transition,
    refund_may_retry,
    status_after_refund,
)
from payments_platform.logs import payment_logged
from payments_platform.records import Payment, Refund
from payments_platform.store import events, payments, refunds
from payments_platform.telemetry import current_trace_parent
from payments_platform.usecases import notify
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.gateway_call import call_gateway
from payments_platform.usecases.transitions import (
    Recorded,
    StatusChange,
    change_status,
    schedule,
)

tracer = trace.get_tracer("payments_platform")


class RefundOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A refund and its payment after a refund request; ``created`` is False for a repeat."""

    refund: Refund
    payment: Payment
    created: bool


class _Claimed(msgspec.Struct, frozen=True):
    """A refund claimed in the database and not yet answered by the gateway."""

    payment: Payment
    refund: Refund
    sent: bool
    """Sent by this request; False when queued for a worker."""


async def refund_payment(
    deps: Dependencies,
    client_payment_id: uuid.UUID,
    *,
    amount_minor: int | None = None,
    client_refund_id: uuid.UUID | None = None,
    merchant: str | None = None,
    operator: str | None = None,
) -> RefundOutcome:
    """Refund ``amount_minor`` (default: all that is left) of the payment ``merchant`` calls
    ``client_payment_id``, through the gateway that took it; ``operator``: who asked, from the
    console (recorded in the payment's log)."""
    payment_id = payment_key(merchant, client_payment_id)
    with tracer.start_as_current_span("payments.refund") as span, payment_logged(payment_id):
        span.set_attribute("payment.id", str(payment_id))
        client_refund_id = client_refund_id or uuid.uuid4()
        span.set_attribute("refund.id", str(client_refund_id))
        claimed = await deps.database.write(
            functools.partial(
                claim_refund,
                deps=deps,
                client_payment_id=client_payment_id,
                amount_minor=amount_minor,
                client_refund_id=client_refund_id,
                merchant=merchant,
                operator=operator,
                now=deps.now(),
            )
        )
        if isinstance(claimed, RefundOutcome):
            return claimed
        if not claimed.sent:  # queued: a worker sends it
            return RefundOutcome(refund=claimed.refund, payment=claimed.payment, created=True)
        outcome = await send_refund(deps, claimed.payment, claimed.refund, by_job=False)
        if outcome.refund.status is RefundStatus.FAILED:
            raise refund_failed(outcome.refund)
        return outcome


def claim_refund(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    client_payment_id: uuid.UUID,
    amount_minor: int | None,
    client_refund_id: uuid.UUID,
    merchant: str | None,
    now: datetime,
    operator: str | None = None,
) -> _Claimed | RefundOutcome:
    """Take the amount out of what is left to refund, in one transaction with the refund row
    (marked sent when it is sent now); when queued, with the job that sends it.

    A refund id seen before answers with that refund as it stands, and sends it again only
    when nothing reached the vendor the first time.
    """
    payment = payments.find_for_client(conn, merchant, client_payment_id, for_update=True)
    if payment is None:
        raise errors.PaymentNotFound(f"no payment with id {client_payment_id}", field="id")
    existing = refunds.find_for_client(conn, merchant, client_refund_id)
    if existing is not None:
        _check_repeat(existing, payment, amount_minor)
        if not refund_may_retry(existing.status, existing.failure_code):
            if existing.status is RefundStatus.FAILED:
                raise refund_failed(existing)
            return RefundOutcome(refund=existing, payment=payment, created=False)
        amount_minor = existing.amount_minor
    amount = _claimable(payment, amount_minor)
    if not payments.claim_refund_amount(conn, payment, amount, now):
        # Only reachable without the row lock (SQLite serialises writers instead).
        raise errors.RefundExceedsBalance("another refund took the balance first")
    sent = not deps.queued
    if existing is None:
        refund = refunds.insert(
            conn,
            refund_id=refund_key(merchant, client_refund_id),
            payment_id=payment.id,
            merchant=merchant,
            client_refund_id=client_refund_id,
            amount_minor=amount,
            gateway=payment.gateway or "",
            now=now,
            sent=sent,
            trace_parent=current_trace_parent() if sent else None,
        )
        if refund is None:
            # A refund of another payment took the same id a moment ago.
            raise errors.RefundIdReused(
                f"refund {client_refund_id} exists for another payment", field="refund_id"
            )
        why = ""
    else:
        refund = refunds.reopen(
            conn,
            existing.id,
            now=now,
            sent=sent,
            trace_parent=current_trace_parent() if sent else None,
        )
        if refund is None:  # pragma: no cover - the payment's lock keeps the refund failed
            raise RuntimeError(f"refund {existing.id} changed under its payment's lock")
        why = f" again: nothing reached the gateway before ({existing.failure_code})"
    if operator is not None:
        events.record_operator_action(
            conn,
            payment_id=payment.id,
            operator=operator,
            action="refund",
            reason=f"{operator} asked for refund {client_refund_id} of"
            f" {Amount(amount, payment.currency).format()}",
            now=now,
            refund_id=str(client_refund_id),
        )
    events.record(
        conn,
        payment_id=payment.id,
        kind="refund_requested",
        gateway=payment.gateway,
        reason=f"refund {client_refund_id} of {Amount(amount, payment.currency).format()}{why}",
        detail=_refund_detail(refund.id, client_refund_id, amount),
        now=now,
    )
    if not sent:
        schedule(conn, deps, JobKind.REFUND, payment.id, refund_id=refund.id)
    claimed = msgspec.structs.replace(
        payment, refund_claimed_minor=payment.refund_claimed_minor + amount, updated_at=now
    )
    return _Claimed(claimed, refund, sent)


def _claimable(payment: Payment, amount_minor: int | None) -> int:
    """The amount a refund of the (locked) payment may claim; raises when none may be."""
    if payment.status not in REFUNDABLE:
        raise errors.PaymentNotRefundable(
            f"payment {payment.client_id} is {payment.status}; only paid payments are refunded",
            extra={"payment_status": payment.status},
        )
    left = payment.refundable_minor
    amount = left if amount_minor is None else amount_minor
    if amount <= 0 or amount > left:
        raise errors.RefundExceedsBalance(
            f"{Amount(left, payment.currency).format()} is left to refund"
            + ("" if amount_minor is None else f", not {amount_minor} minor units"),
            field="amount_fractions" if amount_minor is not None else None,
            extra={"refundable_fractions": left},
        )
    if payment.gateway is None:  # pragma: no cover - refundable payments have one
        raise RuntimeError(f"paid payment {payment.id} has no gateway")
    return amount


def _check_repeat(existing: Refund, payment: Payment, amount_minor: int | None) -> None:
    """A refund id seen before may only be the same request again."""
    if existing.payment_id != payment.id or (
        amount_minor is not None and amount_minor != existing.amount_minor
    ):
        raise errors.RefundIdReused(
            f"refund {existing.client_refund_id} exists, for another payment or amount",
            field="refund_id",
        )


def _refund_detail(
    refund_id: uuid.UUID, client_refund_id: uuid.UUID, amount_minor: int
) -> dict[str, object]:
    detail: dict[str, object] = {
        "refund_id": str(client_refund_id),
        "amount_fractions": amount_minor,
    }
    if refund_id != client_refund_id:
        detail["reference"] = str(refund_id)  # what the gateway knows it by
    return detail


async def send_refund(
    deps: Dependencies,
    payment: Payment,
    refund: Refund,
    *,
    by_job: bool,
    final: bool = True,
) -> RefundOutcome:
    """Send a claimed refund to the payment's gateway and record the answer.

    Unavailable: failed (the claim is released) if ``final``, else :class:`RetryLater`. No
    usable answer: the refund is ``unknown`` and its job asks the gateway later.
    """
    record = functools.partial(record_refund, deps=deps, refund=refund, by_job=by_job)
    if refund.gateway not in deps.gateways:
        if not final:
            raise RetryLater(f"gateway {refund.gateway!r} that took the payment is off")
        return await deps.database.write(
            functools.partial(record, status=RefundStatus.FAILED, failure_code=GATEWAY_NOT_ENABLED)
        )
    request = RefundRequest(
        refund_id=refund.id,
        payment_id=payment.id,
        external_id=payment.external_id or "",
        amount=Amount(refund.amount_minor, payment.currency),
    )
    result = await call_gateway(
        deps,
        refund.gateway,
        "refund",
        lambda gateway: gateway.refund(request),
        vendor_id=lambda answer: answer.external_refund_id,
        attributes={"refund.id": str(refund.id)},
    )
    if result.outcome is AttemptOutcome.ACCEPTED and isinstance(result.answer, RefundResult):
        status = functools.partial(
            record,
            status=RefundStatus.SUCCEEDED,
            external_refund_id=result.answer.external_refund_id,
        )
    elif result.outcome is AttemptOutcome.UNAVAILABLE:
        if not final:
            raise RetryLater(f"{refund.gateway} unavailable: {result.error}") from result.failure
        status = functools.partial(
            record,
            status=RefundStatus.FAILED,
            failure_code=GATEWAY_UNAVAILABLE,
            reason=result.error,
        )
    elif result.outcome is AttemptOutcome.DECLINED:
        status = functools.partial(
            record,
            status=RefundStatus.FAILED,
            failure_code=result.failure_code,
            reason=result.error,
        )
    else:
        status = functools.partial(record, status=RefundStatus.UNKNOWN, reason=result.error)
    return await deps.database.write(status)


def record_refund(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    refund: Refund,
    status: RefundStatus,
    by_job: bool,
    external_refund_id: str | None = None,
    failure_code: str | None = None,
    reason: str | None = None,
) -> RefundOutcome:
    """Record what became of a refund, moving the payment's refunded amounts with it.

    The first definitive answer stands. A success counts against the payment, a failure gives
    its claim back, and an unknown refund keeps its claim and gets a job that asks the gateway
    (unless a job sent it, ``by_job``: that job retries).
    """
    now = deps.now()
    payment = payments.load(conn, refund.payment_id, for_update=True)
    # Conditional on the refund being still open, as the row stands under the payment's lock.
    finished = refunds.finish(
        conn,
        refund.id,
        expected=[was for was in RefundStatus if refund_can_transition(was, status)],
        status=status,
        external_refund_id=external_refund_id,
        failure_code=failure_code,
        now=now,
    )
    if finished is None:
        # Settled meanwhile (by its reconciliation): the first definitive answer stands.
        current = refunds.load(conn, refund.id)
        return RefundOutcome(refund=current, payment=payment, created=True)
    amount = Amount(refund.amount_minor, payment.currency).format()
    reason = (
        f"refund {refund.client_refund_id} of {amount}: {status}"
        + (f" ({failure_code})" if failure_code else "")
        + (f": {reason}" if reason else "")
    )
    detail = _refund_detail(refund.id, refund.client_refund_id, refund.amount_minor)
    after = payment
    if status is RefundStatus.SUCCEEDED:
        refunded = status_after_refund(
            payment.captured_minor, payment.refunded_minor + refund.amount_minor
        )
        after = change_status(
            conn,
            deps,
            payment.id,
            StatusChange(
                status=refunded,
                reason=reason,
                expected=(payment.status,),
                refunded_minor=refund.amount_minor,
            ),
            recorded=Recorded(kind="refund_succeeded", gateway=refund.gateway, detail=detail),
            cause_notified=lambda now_paid: notify.refund_changed(conn, deps, finished, now_paid),
        ).payment
        return RefundOutcome(refund=finished, payment=after, created=True)
    if status is RefundStatus.FAILED:
        payments.release_refund_amount(conn, payment.id, refund.amount_minor, now)
        after = msgspec.structs.replace(
            payment,
            refund_claimed_minor=payment.refund_claimed_minor - refund.amount_minor,
            updated_at=now,
        )
        notify.refund_changed(conn, deps, finished, after)
    elif not by_job:
        schedule(conn, deps, JobKind.REFUND, payment.id, refund_id=refund.id, delay=1.0)
    events.record(
        conn,
        payment_id=payment.id,
        kind=f"refund_{status}",
        gateway=refund.gateway,
        accepted=False,
        reason=reason,
        detail=detail,
        now=now,
    )
    return RefundOutcome(refund=finished, payment=after, created=True)


def refund_failed(refund: Refund) -> errors.PaymentProblem:
    """The problem a failed refund is answered with."""
    detail = (
        f"refund {refund.client_refund_id} failed ({refund.failure_code}); nothing was paid out"
    )
    extra = {"refund_id": str(refund.client_refund_id)}
    if refund_may_retry(refund.status, refund.failure_code):
        return errors.GatewayUnreachable(
            detail + "; send the same request again (same refund_id) to retry it",
            retry_after=5,
            extra=extra,
        )
    return errors.RefundDeclined(detail, extra=extra)
