"""Cancelling a payment its payer has not paid: ``POST /payments/{id}/cancel``.

Only an ``initiated`` payment is cancelled: one pending or unknown may be held by a vendor
nobody has heard from yet, and one paid, failed, expired or rejected has nothing to cancel.

When the payment's gateway declares it can cancel, one transaction claims the cancel (the
payment moves to ``cancelling``, which a worker reconciles should this process die before the
answer is recorded), the vendor is asked with no transaction open, and its answer decides, in
another transaction: cancelled; refused (the payer paid first: the payment is what the vendor
then says it is, and the client gets a 409 naming that status); unavailable (nothing was
cancelled: ``initiated`` again, retry later); or no usable answer (it stays ``cancelling``,
and reconciliation asks the vendor what became of it, never cancels twice). A payer's "paid"
that arrives meanwhile wins: the vendor's books are the truth about money.

When the gateway cannot cancel, the platform cancels the payment on its own
(``cancelled-here``): the vendor is not asked, and should it still take the payer's money, its
word moves the payment to ``paid`` (:data:`~payments_platform.lifecycle.RECOVERIES`).
"""

from __future__ import annotations

import enum
import functools
import uuid
from typing import cast

import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from payments_plugins import (
    CancellingGateway,
    CancelRequest,
    StatusReport,
    VoidingGateway,
    VoidRequest,
)

from payments_platform import errors
from payments_platform.access import payment_key
from payments_platform.jobs import RetryLater
from payments_platform.lifecycle import (
    CANCELLABLE,
    CANCELLED_HERE,
    AttemptOutcome,
    PaymentStatus,
    as_reported_for,
    payment_status_reported,
)
from payments_platform.logs import payment_logged
from payments_platform.records import Payment
from payments_platform.store import events, payments
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.gateway_call import call_gateway
from payments_platform.usecases.reconcile import ask_payment_status
from payments_platform.usecases.transitions import StatusChange, change_status

tracer = trace.get_tracer("payments_platform")


class CancelAnswer(enum.StrEnum):
    """What a cancel request achieved."""

    CANCELLED = "cancelled"
    """This request cancelled the payment."""
    REPEATED = "repeated"
    """The payment was cancelled before: the payment as it stands, no vendor asked."""
    IN_PROGRESS = "in_progress"
    """The vendor is being asked, or gave no usable answer: reconciliation finds out."""


class CancelOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The payment after a cancel request, and what the request achieved."""

    payment: Payment
    answer: CancelAnswer


async def cancel_payment(
    deps: Dependencies,
    client_id: uuid.UUID,
    *,
    merchant: str | None = None,
    operator: str | None = None,
) -> CancelOutcome:
    """Cancel the payment ``merchant`` calls ``client_id`` (``operator`` names who asked from
    the console), or answer with it as it stands when it was cancelled before."""
    payment_id = payment_key(merchant, client_id)
    with tracer.start_as_current_span("payments.cancel") as span, payment_logged(payment_id):
        span.set_attribute("payment.id", str(payment_id))
        claimed = await deps.database.write(
            functools.partial(
                claim_cancel,
                deps=deps,
                merchant=merchant,
                client_id=client_id,
                operator=operator,
            )
        )
        if isinstance(claimed, CancelOutcome):
            return claimed
        return await _ask_vendor(deps, claimed)


def claim_cancel(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    merchant: str | None,
    client_id: uuid.UUID,
    operator: str | None,
) -> CancelOutcome | Payment:
    """Lock the payment and decide: a repeat, a refusal, a cancel here (the gateway cannot
    cancel), or a cancel to ask the vendor for (the payment returned, now ``cancelling``)."""
    payment = payments.find_for_client(conn, merchant, client_id, for_update=True)
    if payment is None:
        raise errors.PaymentNotFound(f"no payment with id {client_id}", field="id")
    if payment.status is PaymentStatus.CANCELLED:
        return CancelOutcome(payment=payment, answer=CancelAnswer.REPEATED)
    if payment.status is PaymentStatus.CANCELLING:
        return CancelOutcome(payment=payment, answer=CancelAnswer.IN_PROGRESS)
    if payment.status is PaymentStatus.VOIDED:
        return CancelOutcome(payment=payment, answer=CancelAnswer.REPEATED)
    if payment.status not in CANCELLABLE:
        raise errors.PaymentNotCancellable(
            f"payment {client_id} is {payment.status}; only an initiated payment, which its"
            " payer has not paid, is cancelled, or an authorized one nothing was captured of"
            " (voided)",
            extra={"payment_status": payment.status},
            payment=payment,
        )
    if payment.status is PaymentStatus.AUTHORIZED:
        return _claim_void(conn, deps, payment, operator)
    by = f" by operator {operator}" if operator else ""
    if operator is not None:
        events.record_operator_action(
            conn,
            payment_id=payment.id,
            operator=operator,
            action="cancel",
            reason=f"{operator} cancelled the payment",
            now=deps.now(),
        )
    live = deps.gateways.get(payment.gateway or "")
    if live is None or not live.capabilities.cancel:
        cannot = payment.gateway if live is None else f"{payment.gateway} cannot cancel"
        moved = change_status(
            conn,
            deps,
            payment.id,
            StatusChange(
                status=PaymentStatus.CANCELLED,
                reason=f"cancelled{by}; {cannot}, so its vendor was not asked",
                expected=(PaymentStatus.INITIATED,),
                failure_code=CANCELLED_HERE,
            ),
        )
        return CancelOutcome(payment=moved.payment, answer=CancelAnswer.CANCELLED)
    moved = change_status(
        conn,
        deps,
        payment.id,
        StatusChange(
            status=PaymentStatus.CANCELLING,
            reason=f"cancel requested{by}; asking {payment.gateway}",
            expected=(PaymentStatus.INITIATED,),
        ),
    )
    return moved.payment


def _claim_void(
    conn: sa.Connection, deps: Dependencies, payment: Payment, operator: str | None
) -> Payment:
    """Decide the cancel of an authorized payment: a void, asked of its vendor, only while
    nothing was captured of it and its gateway's type declares ``void``."""
    if payment.capture_claimed_minor > 0:
        raise errors.PaymentNotCancellable(
            f"a capture of payment {payment.client_id} is being made; once it is, refund what"
            " was captured instead",
            extra={"payment_status": payment.status},
            payment=payment,
        )
    live = deps.gateways.get(payment.gateway or "")
    if live is None or not live.capabilities.void:
        raise errors.PaymentNotCancellable(
            f"{payment.gateway} cannot void an authorization: capture it, or let it lapse",
            extra={"payment_status": payment.status},
            payment=payment,
        )
    by = f" by operator {operator}" if operator else ""
    if operator is not None:
        events.record_operator_action(
            conn,
            payment_id=payment.id,
            operator=operator,
            action="void",
            reason=f"{operator} voided the authorization",
            now=deps.now(),
        )
    return change_status(
        conn,
        deps,
        payment.id,
        StatusChange(
            status=PaymentStatus.CANCELLING,
            reason=f"void requested{by}; asking {payment.gateway}",
            expected=(PaymentStatus.AUTHORIZED,),
        ),
    ).payment


async def _ask_vendor(deps: Dependencies, payment: Payment) -> CancelOutcome:
    """Ask the payment's vendor to cancel it (or void it, once authorized), and record what its
    answer means."""
    if _voiding(payment):
        return await _ask_void(deps, payment)
    gateway = payment.gateway or ""
    request = CancelRequest(payment_id=payment.id, external_id=payment.external_id or "")
    result = await call_gateway(
        deps,
        gateway,
        "cancel",
        lambda live: cast(CancellingGateway, live).cancel(request),
    )
    if result.outcome is AttemptOutcome.ACCEPTED:
        cancelled = await _record(deps, payment, PaymentStatus.CANCELLED, f"cancelled by {gateway}")
        if cancelled.status is not PaymentStatus.CANCELLED:
            # The payer's "paid" came first and the vendor says it cancelled: the vendor's
            # books disagree with themselves; the payment keeps what it reported first.
            raise errors.CancelRefused(
                f"{gateway} says it cancelled the payment, but it reported it {cancelled.status}"
                " first",
                extra={"payment_status": cancelled.status},
                payment=cancelled,
            )
        return CancelOutcome(payment=cancelled, answer=CancelAnswer.CANCELLED)
    if result.outcome is AttemptOutcome.UNAVAILABLE:
        await _record(
            deps,
            payment,
            PaymentStatus.INITIATED,
            f"{gateway} could not be reached: nothing was cancelled ({result.error})",
        )
        raise errors.GatewayUnreachable(
            f"{gateway} could not be reached; nothing was cancelled: send the same request again",
            retry_after=5,
        ) from result.failure
    if result.outcome is AttemptOutcome.DECLINED:
        now_is = await _after_refusal(deps, payment, f"{gateway} refused: {result.error}")
        raise errors.CancelRefused(
            f"{gateway} refused to cancel the payment ({result.failure_code});"
            f" it is {now_is.status}",
            extra={"payment_status": now_is.status},
            payment=now_is,
        )
    # No usable answer: the payment stays cancelling; its reconcile job asks the vendor.
    return CancelOutcome(payment=payment, answer=CancelAnswer.IN_PROGRESS)


def _voiding(payment: Payment) -> bool:
    """A ``cancelling`` payment is being voided when it was authorized before (its amount is
    authorized); else its payer had not acted yet."""
    return payment.manual and payment.authorized_minor > 0


async def _ask_void(deps: Dependencies, payment: Payment) -> CancelOutcome:
    """Ask the payment's vendor to release its authorization, and record what its answer
    means: voided; unavailable or refused (authorized again, or what the vendor then says);
    no usable answer (``cancelling``, which reconciliation resolves)."""
    gateway = payment.gateway or ""
    request = VoidRequest(payment_id=payment.id, external_id=payment.external_id or "")
    result = await call_gateway(
        deps, gateway, "void", lambda live: cast(VoidingGateway, live).void(request)
    )
    if result.outcome is AttemptOutcome.ACCEPTED:
        voided = await _record(deps, payment, PaymentStatus.VOIDED, f"voided by {gateway}")
        return CancelOutcome(payment=voided, answer=CancelAnswer.CANCELLED)
    if result.outcome is AttemptOutcome.UNAVAILABLE:
        await _record(
            deps,
            payment,
            PaymentStatus.AUTHORIZED,
            f"{gateway} could not be reached: nothing was voided ({result.error})",
        )
        raise errors.GatewayUnreachable(
            f"{gateway} could not be reached; nothing was voided: send the same request again",
            retry_after=5,
        ) from result.failure
    if result.outcome is AttemptOutcome.DECLINED:
        now_is = await _after_refusal(deps, payment, f"{gateway} refused to void: {result.error}")
        raise errors.CancelRefused(
            f"{gateway} refused to void the authorization ({result.failure_code});"
            f" it is {now_is.status}",
            extra={"payment_status": now_is.status},
            payment=now_is,
        )
    return CancelOutcome(payment=payment, answer=CancelAnswer.IN_PROGRESS)


async def _after_refusal(deps: Dependencies, payment: Payment, why: str) -> Payment:
    """A vendor that refused to cancel says why by what it reports of the payment now: paid
    (the payer came first), or still payable."""
    try:
        report: StatusReport | None = await ask_payment_status(deps, payment)
    except RetryLater:
        report = None
    reported = None if report is None else payment_status_reported(report.status)
    was = PaymentStatus.AUTHORIZED if _voiding(payment) else PaymentStatus.INITIATED
    reported = as_reported_for(PaymentStatus.CANCELLING, reported, manual=payment.manual)
    if reported is None or reported in (PaymentStatus.CANCELLED, PaymentStatus.VOIDED):
        reported = was
    said = "" if report is None else f"; it reports {report.status}"
    return await _record(deps, payment, reported, why + said)


async def _record(
    deps: Dependencies, payment: Payment, status: PaymentStatus, reason: str
) -> Payment:
    """Move a ``cancelling`` payment to ``status``; the payment as it then stands."""

    def record(conn: sa.Connection) -> Payment:
        return change_status(
            conn,
            deps,
            payment.id,
            StatusChange(
                status=status,
                reason=reason,
                expected=(PaymentStatus.CANCELLING,),
                gateway=payment.gateway,
            ),
        ).payment

    return await deps.database.write(record)
