"""Starting a payment: ``POST /init-payment``.

The client's payment id is the idempotency key. One transaction claims it: it writes the
``pending`` payment, or, for an id seen before, decides what the repeat does (the same request
is answered with the stored payment, another one is refused, a payment no vendor holds is routed
again); it then writes the routing decision with the first attempt, or, when dispatch is
queued, the job that will route it. With the transaction committed, the failover loop
(:mod:`~payments_platform.usecases.failover`) calls the gateways. The outcome decides the answer:
created, a repeat, still in progress, or a refusal raised as a problem.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Mapping
from datetime import datetime

import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from payments_plugins import Amount, CaptureMode, InitiateRequest

from payments_platform import errors
from payments_platform.access import payment_key
from payments_platform.jobs import JobKind
from payments_platform.lifecycle import NO_GATEWAY_AVAILABLE, PaymentStatus, may_route_again
from payments_platform.logs import payment_logged
from payments_platform.records import Payment
from payments_platform.store import events, payments
from payments_platform.usecases import failover
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.transitions import StatusChange, change_status, schedule

tracer = trace.get_tracer("payments_platform")


class InitAnswer(enum.StrEnum):
    """What an init request achieved."""

    CREATED = "created"
    """This request created the payment and a gateway accepted it."""
    REPEATED = "repeated"
    """The id was seen before: the payment as it stands, no gateway called."""
    IN_PROGRESS = "in_progress"
    """Queued for a worker (``pending``), or sent with no usable answer yet (``unknown``)."""


class InitOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The payment after an init request, and what the request achieved."""

    payment: Payment
    answer: InitAnswer


class _Claimed(msgspec.Struct, frozen=True, kw_only=True):
    """The payment written (or reopened) and its first call claimed, still to be made."""

    payment_id: uuid.UUID
    plan: failover.RoutePlan
    created: bool


class PaymentRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a client asks for: the amount, its own notes about the payment, and where the
    vendor is to send the payer back."""

    amount: Amount
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)
    description: str | None = None
    return_url: str | None = None
    capture: CaptureMode = CaptureMode.AUTOMATIC


async def start_payment(
    deps: Dependencies,
    client_id: uuid.UUID,
    amount: Amount,
    *,
    merchant: str | None = None,
    metadata: Mapping[str, str] | None = None,
    description: str | None = None,
    return_url: str | None = None,
    capture: CaptureMode = CaptureMode.AUTOMATIC,
) -> InitOutcome:
    """Start a payment ``merchant`` calls ``client_id``, or answer with the one this id
    already started; ``capture`` manual: the payer's payment is authorized, to be captured
    later, by a gateway whose type declares ``manual_capture``."""
    asked = PaymentRequest(
        amount=amount,
        metadata=metadata or {},
        description=description,
        return_url=return_url,
        capture=capture,
    )
    payment_id = payment_key(merchant, client_id)
    with tracer.start_as_current_span("payments.initiate") as span, payment_logged(payment_id):
        span.set_attribute("payment.id", str(payment_id))
        span.set_attribute("payment.currency", amount.currency)
        if not deps.routing.supports(amount.currency):
            raise errors.CurrencyNotSupported(
                f"no enabled gateway takes {amount.currency}", field="currency"
            )
        unable = failover.unable_to_take(deps, capture)
        if not deps.routing.supports(amount.currency, unable):
            raise errors.NoGatewayCanCapture(
                f"no enabled gateway takes {amount.currency} with manual capture: "
                + "; ".join(f"{name}: {why}" for name, why in unable.items()),
                field="capture",
            )
        claimed = await deps.database.write(
            functools.partial(
                claim_payment,
                deps=deps,
                payment_id=payment_id,
                client_id=client_id,
                asked=asked,
                merchant=merchant,
                now=deps.now(),
            )
        )
        if isinstance(claimed, InitOutcome):
            span.set_attribute("payment.replay", claimed.answer is InitAnswer.REPEATED)
            return _answered(claimed.payment, claimed.answer)
        payment = await failover.follow_route(deps, claimed.plan, final=True)
        answer = InitAnswer.CREATED if claimed.created else InitAnswer.REPEATED
        return _answered(payment, answer)


def claim_payment(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    payment_id: uuid.UUID,
    client_id: uuid.UUID,
    asked: PaymentRequest,
    merchant: str | None,
    now: datetime,
) -> InitOutcome | _Claimed:
    """Write the payment, or lock the merchant's one with this id and decide what the repeat
    does."""
    amount = asked.amount
    created = payments.insert(
        conn,
        payment_id=payment_id,
        merchant=merchant,
        client_id=client_id,
        currency=amount.currency,
        amount_minor=amount.minor,
        metadata=asked.metadata,
        description=asked.description,
        return_url=asked.return_url,
        capture_mode=asked.capture,
        now=now,
    )
    if created:
        events.record(
            conn,
            payment_id=payment_id,
            kind="status_changed",
            to_status=PaymentStatus.PENDING,
            reason="payment requested",
            now=now,
        )
    else:
        existing = payments.find_for_client(conn, merchant, client_id, for_update=True)
        if existing is None:
            # The id is taken by a payment made while the API was open, or with a key: an
            # open API cannot tell whose it is, and says nothing of it.
            raise errors.IdempotencyKeyReused(f"payment id {client_id} is already used", field="id")
        if not reopen_for_repeat(conn, deps, existing, asked, now):
            return InitOutcome(payment=existing, answer=InitAnswer.REPEATED)
        payment_id = existing.id
    if deps.queued:
        schedule(conn, deps, JobKind.INITIATE, payment_id)
        payment = payments.load(conn, payment_id)
        return InitOutcome(payment=payment, answer=InitAnswer.IN_PROGRESS)
    # The payment row is ours under this transaction's lock: the routing decision and the
    # first attempt are written with it, saving two commits.
    request = InitiateRequest(
        payment_id=payment_id,
        amount=amount,
        return_url=asked.return_url,
        description=asked.description,
        capture=asked.capture,
    )
    plan = failover.plan_route(
        conn, deps, request, merchant=merchant, metadata=dict(asked.metadata)
    )
    return _Claimed(payment_id=payment_id, plan=plan, created=created)


def reopen_for_repeat(
    conn: sa.Connection,
    deps: Dependencies,
    existing: Payment,
    asked: PaymentRequest,
    now: datetime,
) -> bool:
    """Decide what a repeated init does with the payment it names (locked by the caller);
    True if the payment was reopened and is to be routed again."""
    if existing.amount != asked.amount:
        raise errors.IdempotencyKeyReused(
            f"payment {existing.client_id} exists with {existing.amount.format()};"
            f" this request asks for {asked.amount.format()}",
            field="id",
        )
    for name, stored, given in [
        ("metadata", existing.metadata, dict(asked.metadata)),
        ("description", existing.description, asked.description),
        ("return_url", existing.return_url, asked.return_url),
        ("capture", existing.capture_mode, asked.capture),
    ]:
        if stored != given:
            raise errors.IdempotencyKeyReused(
                f"payment {existing.client_id} exists with another {name}", field="id"
            )
    if existing.status is PaymentStatus.PENDING:
        if deps.queued:
            return False  # queued: the stored payment is the answer until a worker routes it
        raise errors.PaymentInProgress(
            f"payment {existing.client_id} is being sent to a gateway; ask again shortly",
            retry_after=1,
        )
    if not may_route_again(existing.status, existing.failure_code):
        return False
    # No vendor holds the payment, so trying again cannot charge twice.
    return change_status(
        conn,
        deps,
        existing.id,
        StatusChange(
            status=PaymentStatus.PENDING,
            reason=f"retried after {existing.failure_code}",
            expected=(PaymentStatus.REJECTED,),
            forget_gateway=True,
        ),
    ).moved


def _answered(payment: Payment, answer: InitAnswer) -> InitOutcome:
    """The outcome of a request for ``payment``; a rejected payment is a refusal."""
    if payment.status is PaymentStatus.REJECTED:
        if payment.failure_code == NO_GATEWAY_AVAILABLE:
            raise errors.NoGatewayAvailable(
                "no gateway could take the payment now; retry with the same id",
                retry_after=5,
                payment=payment,
            )
        raise errors.PaymentDeclined(
            f"the gateway declined the payment ({payment.failure_code})", payment=payment
        )
    if payment.status in (PaymentStatus.UNKNOWN, PaymentStatus.PENDING):
        answer = InitAnswer.IN_PROGRESS
    return InitOutcome(payment=payment, answer=answer)
