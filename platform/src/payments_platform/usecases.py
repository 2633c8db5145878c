"""The payment use cases: initiate, apply a vendor's webhook, refund, read.

They know nothing of HTTP, so a queue consumer can drive them as well. The rule they keep: no
transaction is held open across a gateway call. Work is claimed in one short transaction (a row
written or conditionally updated), the gateway is called, and the result recorded in another.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from opentelemetry import trace
from payments_plugins import (
    Amount,
    Gateway,
    GatewayDeclined,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    InitiateRequest,
    RefundRequest,
    WebhookAck,
    WebhookEvent,
    WebhookReply,
)
from payments_plugins import InvalidWebhook as GatewayInvalidWebhook
from sqlalchemy.ext.asyncio import AsyncConnection

from payments_platform import errors, ledger
from payments_platform.database import Database
from payments_platform.lifecycle import (
    REFUNDABLE,
    PaymentStatus,
    WebhookVerdict,
    judge_webhook,
)
from payments_platform.records import AttemptOutcome, Payment, PaymentHistory, Refund, RefundStatus
from payments_platform.routing import RouteDecision, RoutingTable

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("payments_platform")

NO_GATEWAY_AVAILABLE = "no-gateway-available"
"""``failure_code`` of a payment no gateway could be reached for: the only retryable rejection."""


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class LiveGateway:
    """A built gateway and the type it is an instance of."""

    name: str
    type_name: str
    gateway: Gateway
    webhook_reply: Callable[[WebhookAck], WebhookReply] | None = None


class InitOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The payment after an init request, and whether this request created it."""

    payment: Payment
    created: bool


class WebhookOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The payment after a webhook, and whether the webhook changed it."""

    payment: Payment
    changed: bool


class RefundOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A refund and its payment after a refund request; ``created`` is False for a replay."""

    refund: Refund
    payment: Payment
    created: bool


class Payments:
    """The use cases over one database and one set of live gateways."""

    def __init__(
        self,
        database: Database,
        routing: RoutingTable,
        gateways: Mapping[str, LiveGateway],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.database = database
        self.routing = routing
        self.gateways = dict(gateways)
        self._now = clock

    def gateways_of_type(self, type_name: str) -> list[LiveGateway]:
        """The enabled gateways that are instances of ``type_name``, in config order."""
        return [live for live in self.gateways.values() if live.type_name == type_name]

    # -- initiate -------------------------------------------------------------------------

    async def initiate(self, payment_id: uuid.UUID, amount: Amount) -> InitOutcome:
        """Start a payment, or return the one this id already started."""
        with tracer.start_as_current_span("payments.initiate") as span:
            span.set_attribute("payment.id", str(payment_id))
            span.set_attribute("payment.currency", amount.currency)
            if not self.routing.supports(amount.currency):
                raise errors.CurrencyNotSupported(
                    f"no enabled gateway takes {amount.currency}", field="currency"
                )
            now = self._now()
            async with self.database.write() as conn:
                created = await ledger.insert_payment(
                    conn,
                    payment_id=payment_id,
                    currency=amount.currency,
                    amount_minor=amount.minor,
                    now=now,
                )
                if created:
                    await ledger.record_event(
                        conn,
                        payment_id=payment_id,
                        kind="status_changed",
                        to_status=PaymentStatus.PENDING,
                        reason="payment requested",
                        now=now,
                    )
                else:
                    existing = await ledger.load_payment(conn, payment_id, for_update=True)
                    if not await self._claim_retry(conn, existing, amount, now):
                        span.set_attribute("payment.replay", True)
                        return InitOutcome(payment=existing, created=False)
            payment = await self._route(payment_id, amount)
            return InitOutcome(payment=payment, created=created)

    async def _claim_retry(
        self, conn: AsyncConnection, existing: Payment, amount: Amount, now: datetime
    ) -> bool:
        """Decide what a repeated init does; True if it may route the payment again."""
        if existing.amount != amount:
            raise errors.IdempotencyKeyReused(
                f"payment {existing.id} exists with {existing.amount.format()};"
                f" this request asks for {amount.format()}",
                field="id",
            )
        if existing.status is PaymentStatus.PENDING:
            raise errors.PaymentInProgress(
                f"payment {existing.id} is being sent to a gateway; ask again shortly",
                retry_after=1,
            )
        retryable = (
            existing.status is PaymentStatus.REJECTED
            and existing.failure_code == NO_GATEWAY_AVAILABLE
        )
        if not retryable:
            return False
        # Nothing reached a vendor last time, so trying again cannot charge twice.
        moved = await ledger.move_payment(
            conn,
            existing.id,
            expected=PaymentStatus.REJECTED,
            now=now,
            status=PaymentStatus.PENDING,
            failure_code=None,
        )
        if moved:
            await ledger.record_event(
                conn,
                payment_id=existing.id,
                kind="status_changed",
                from_status=PaymentStatus.REJECTED,
                to_status=PaymentStatus.PENDING,
                reason="retried after no gateway was available",
                now=now,
            )
        return moved

    async def _route(self, payment_id: uuid.UUID, amount: Amount) -> Payment:
        decision = self.routing.decide(amount.currency)
        with tracer.start_as_current_span("payments.route") as span:
            _trace_decision(span, decision)
        async with self.database.write() as conn:
            await ledger.record_event(
                conn,
                payment_id=payment_id,
                kind="routing_decision",
                reason=f"{decision.strategy} strategy, {len(decision.order)} candidate(s)",
                detail=msgspec.to_builtins(decision),
                now=self._now(),
            )
        unavailable: list[str] = []
        for position, candidate in enumerate(decision.order):
            route = self.routing.route(candidate.gateway)
            if not route.breaker.try_acquire():
                unavailable.append(f"{candidate.gateway} (breaker {route.breaker.state})")
                continue
            reason = decision.reason(position, unavailable)
            outcome = await self._attempt(payment_id, amount, candidate.gateway, reason)
            if outcome is None:
                unavailable.append(f"{candidate.gateway} unavailable")
                continue
            return outcome
        return await self._settle(
            payment_id,
            PaymentStatus.REJECTED,
            reason="no gateway could be reached: " + (", ".join(unavailable) or "none healthy"),
            failure_code=NO_GATEWAY_AVAILABLE,
        )

    async def _attempt(
        self, payment_id: uuid.UUID, amount: Amount, gateway_name: str, reason: str
    ) -> Payment | None:
        """Call one gateway; None means it was unavailable and the next may be tried."""
        live = self.gateways[gateway_name]
        breaker = self.routing.route(gateway_name).breaker
        async with self.database.write() as conn:
            attempt_id = await ledger.insert_attempt(
                conn, payment_id=payment_id, gateway=gateway_name, reason=reason, now=self._now()
            )
        with tracer.start_as_current_span("payments.gateway.initiate") as span:
            span.set_attribute("gateway.name", gateway_name)
            span.set_attribute("gateway.reason", reason)
            try:
                result = await live.gateway.initiate(
                    InitiateRequest(payment_id=payment_id, amount=amount)
                )
            except GatewayUnavailable as error:
                breaker.record_failure()
                span.set_attribute("gateway.outcome", AttemptOutcome.UNAVAILABLE)
                await self._finish_attempt(attempt_id, AttemptOutcome.UNAVAILABLE, str(error))
                return None
            except GatewayDeclined as error:
                breaker.record_success()
                span.set_attribute("gateway.outcome", AttemptOutcome.DECLINED)
                await self._finish_attempt(attempt_id, AttemptOutcome.DECLINED, str(error))
                return await self._settle(
                    payment_id,
                    PaymentStatus.REJECTED,
                    reason=f"declined by {gateway_name}: {error}",
                    failure_code=error.vendor_code or "declined",
                    gateway=gateway_name,
                )
            except Exception as error:
                # Outcome unknown, or a plugin bug after which we cannot tell whether the
                # vendor acted: never fail over, reconcile.
                if not isinstance(error, GatewayOutcomeUnknown):
                    logger.exception("gateway %s raised outside the error taxonomy", gateway_name)
                breaker.record_failure()
                span.set_attribute("gateway.outcome", AttemptOutcome.UNKNOWN)
                await self._finish_attempt(attempt_id, AttemptOutcome.UNKNOWN, str(error))
                return await self._settle(
                    payment_id,
                    PaymentStatus.UNKNOWN,
                    reason=f"no usable answer from {gateway_name}: {error}",
                    gateway=gateway_name,
                )
            breaker.record_success()
            span.set_attribute("gateway.outcome", AttemptOutcome.ACCEPTED)
        now = self._now()
        async with self.database.write() as conn:
            await ledger.finish_attempt(
                conn,
                attempt_id,
                outcome=AttemptOutcome.ACCEPTED,
                external_id=result.external_id,
                now=now,
            )
        return await self._settle(
            payment_id,
            PaymentStatus.INITIATED,
            reason=f"accepted by {gateway_name}",
            gateway=gateway_name,
            external_id=result.external_id,
        )

    async def _finish_attempt(self, attempt_id: int, outcome: AttemptOutcome, error: str) -> None:
        async with self.database.write() as conn:
            await ledger.finish_attempt(
                conn, attempt_id, outcome=outcome, error=error, now=self._now()
            )

    async def _settle(
        self,
        payment_id: uuid.UUID,
        status: PaymentStatus,
        *,
        reason: str,
        failure_code: str | None = None,
        gateway: str | None = None,
        external_id: str | None = None,
    ) -> Payment:
        """Move a pending payment to the outcome of its routing."""
        now = self._now()
        async with self.database.write() as conn:
            values: dict[str, object] = {"status": status, "failure_code": failure_code}
            if gateway is not None:
                values["gateway"] = gateway
            if external_id is not None:
                values["external_id"] = external_id
            moved = await ledger.move_payment(
                conn, payment_id, expected=PaymentStatus.PENDING, now=now, **values
            )
            await ledger.record_event(
                conn,
                payment_id=payment_id,
                kind="status_changed",
                from_status=PaymentStatus.PENDING,
                to_status=status,
                gateway=gateway,
                accepted=moved,
                reason=reason if moved else f"{reason}; not applied, the payment moved on",
                now=now,
            )
            return await ledger.load_payment(conn, payment_id)

    # -- webhooks -------------------------------------------------------------------------

    async def apply_webhook(
        self, gateways: Sequence[LiveGateway], headers: Mapping[str, str], body: bytes
    ) -> WebhookOutcome:
        """Verify a vendor's notification and apply it to the payment it is about.

        Every webhook is recorded, accepted or not, with the SHA-256 of its raw body.
        """
        with tracer.start_as_current_span("payments.webhook") as span:
            body_hash = hashlib.sha256(body).hexdigest()
            event, live, rejection = await self._parse_webhook(gateways, headers, body)
            if event is None or live is None:
                await self._record_webhook(None, None, body_hash, False, rejection)
                raise errors.InvalidWebhook(rejection)
            span.set_attribute("gateway.name", live.name)
            span.set_attribute("webhook.status", event.status)
            names = [candidate.name for candidate in gateways]
            now = self._now()
            async with self.database.write() as conn:
                payment = await ledger.find_by_external_id(
                    conn, names, event.external_id, for_update=True
                )
                if payment is None:
                    await ledger.record_event(
                        conn,
                        payment_id=None,
                        kind="webhook",
                        gateway=live.name,
                        accepted=False,
                        reason=f"no payment with external id {event.external_id!r}",
                        body_sha256=body_hash,
                        detail=msgspec.to_builtins(event),
                        now=now,
                    )
                    missing = f"no payment known to {live.type_name} as {event.external_id!r}"
                else:
                    outcome = await self._apply_status(conn, payment, event, live, body_hash, now)
            if payment is None:
                raise errors.PaymentNotFound(missing, field="external_id")
            span.set_attribute("payment.id", str(payment.id))
            if isinstance(outcome, errors.PaymentProblem):
                raise outcome
            return outcome

    async def _parse_webhook(
        self, gateways: Sequence[LiveGateway], headers: Mapping[str, str], body: bytes
    ) -> tuple[WebhookEvent | None, LiveGateway | None, str]:
        if not gateways:
            return None, None, "no enabled gateway receives this webhook"
        reasons: list[str] = []
        for live in gateways:
            try:
                return await live.gateway.parse_webhook(headers, body), live, ""
            except GatewayInvalidWebhook as error:
                reasons.append(f"{live.name}: {error}" if len(gateways) > 1 else str(error))
        return None, None, "; ".join(reasons)

    async def _apply_status(
        self,
        conn: AsyncConnection,
        payment: Payment,
        event: WebhookEvent,
        live: LiveGateway,
        body_hash: str,
        now: datetime,
    ) -> WebhookOutcome | errors.PaymentProblem:
        try:
            reported = PaymentStatus(event.status.value)
        except ValueError:
            reported = None
        verdict = (
            WebhookVerdict.CONTRADICTS
            if reported is None
            else judge_webhook(payment.status, reported)
        )
        accepted = verdict is not WebhookVerdict.CONTRADICTS
        if verdict is WebhookVerdict.APPLY and reported is not None:
            await ledger.move_payment(
                conn, payment.id, expected=payment.status, now=now, status=reported
            )
        reason = {
            WebhookVerdict.APPLY: f"{live.name} reports {event.status}",
            WebhookVerdict.REPEAT: f"{live.name} repeats {event.status}; nothing changes",
            WebhookVerdict.CONTRADICTS: (
                f"{live.name} reports {event.status}, which the lifecycle forbids"
                f" after {payment.status}"
            ),
        }[verdict]
        await ledger.record_event(
            conn,
            payment_id=payment.id,
            kind="webhook",
            from_status=payment.status,
            to_status=reported if verdict is WebhookVerdict.APPLY else None,
            gateway=live.name,
            accepted=accepted,
            reason=reason,
            body_sha256=body_hash,
            detail=msgspec.to_builtins(event),
            now=now,
        )
        if not accepted:
            # Returned, not raised: raising would roll back the record of the refusal.
            return errors.TransitionNotAllowed(reason, extra={"payment_status": payment.status})
        current = await ledger.load_payment(conn, payment.id)
        return WebhookOutcome(payment=current, changed=verdict is WebhookVerdict.APPLY)

    async def _record_webhook(
        self,
        payment_id: uuid.UUID | None,
        gateway: str | None,
        body_hash: str,
        accepted: bool,
        reason: str,
    ) -> None:
        async with self.database.write() as conn:
            await ledger.record_event(
                conn,
                payment_id=payment_id,
                kind="webhook",
                gateway=gateway,
                accepted=accepted,
                reason=reason,
                body_sha256=body_hash,
                now=self._now(),
            )

    # -- refunds --------------------------------------------------------------------------

    async def refund(
        self,
        payment_id: uuid.UUID,
        *,
        amount_minor: int | None = None,
        refund_id: uuid.UUID | None = None,
    ) -> RefundOutcome:
        """Refund ``amount_minor`` (default: all that is left) through the payment's gateway."""
        with tracer.start_as_current_span("payments.refund") as span:
            span.set_attribute("payment.id", str(payment_id))
            refund_id = refund_id or uuid.uuid4()
            span.set_attribute("refund.id", str(refund_id))
            claimed = await self._claim_refund(payment_id, amount_minor, refund_id)
            if isinstance(claimed, RefundOutcome):
                return claimed
            payment, amount = claimed
            return await self._send_refund(payment, amount, refund_id)

    async def _claim_refund(
        self, payment_id: uuid.UUID, amount_minor: int | None, refund_id: uuid.UUID
    ) -> tuple[Payment, int] | RefundOutcome:
        now = self._now()
        async with self.database.write() as conn:
            existing = await ledger.get_refund(conn, refund_id)
            if existing is not None:
                return await self._replay_refund(conn, existing, payment_id, amount_minor)
            payment = await ledger.get_payment(conn, payment_id, for_update=True)
            if payment is None:
                raise errors.PaymentNotFound(f"no payment with id {payment_id}", field="id")
            if payment.status not in REFUNDABLE:
                raise errors.PaymentNotRefundable(
                    f"payment {payment_id} is {payment.status}; only paid payments are refunded",
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
                raise RuntimeError(f"paid payment {payment_id} has no gateway")
            if not await ledger.claim_refund(conn, payment, amount, now):  # pragma: no cover
                raise errors.RefundExceedsBalance("another refund took the balance first")
            await ledger.insert_refund(
                conn,
                refund_id=refund_id,
                payment_id=payment_id,
                amount_minor=amount,
                gateway=payment.gateway,
                now=now,
            )
            await ledger.record_event(
                conn,
                payment_id=payment_id,
                kind="refund_requested",
                gateway=payment.gateway,
                reason=f"refund {refund_id} of {Amount(amount, payment.currency).format()}",
                detail={"refund_id": str(refund_id), "amount_fractions": amount},
                now=now,
            )
        return payment, amount

    async def _replay_refund(
        self,
        conn: AsyncConnection,
        existing: Refund,
        payment_id: uuid.UUID,
        amount_minor: int | None,
    ) -> RefundOutcome:
        if existing.payment_id != payment_id or (
            amount_minor is not None and amount_minor != existing.amount_minor
        ):
            raise errors.RefundIdReused(
                f"refund {existing.id} exists for payment {existing.payment_id} with"
                f" {existing.amount_minor} minor units",
                field="refund_id",
            )
        payment = await ledger.load_payment(conn, payment_id)
        return RefundOutcome(refund=existing, payment=payment, created=False)

    async def _send_refund(
        self, payment: Payment, amount: int, refund_id: uuid.UUID
    ) -> RefundOutcome:
        gateway_name = payment.gateway or ""
        live = self.gateways.get(gateway_name)
        request = RefundRequest(
            refund_id=refund_id,
            payment_id=payment.id,
            external_id=payment.external_id or "",
            amount=Amount(amount, payment.currency),
        )
        failure: errors.PaymentProblem | None = None
        with tracer.start_as_current_span("payments.gateway.refund") as span:
            span.set_attribute("gateway.name", gateway_name)
            if live is None:
                status, external, code = RefundStatus.FAILED, None, "gateway-not-enabled"
                failure = errors.GatewayUnavailable(
                    f"gateway {gateway_name!r} that took the payment is not enabled"
                )
            else:
                breaker = self.routing.route(gateway_name).breaker
                try:
                    result = await live.gateway.refund(request)
                except GatewayUnavailable as error:
                    breaker.record_failure()
                    status, external, code = RefundStatus.FAILED, None, "gateway-unavailable"
                    failure = errors.GatewayUnavailable(f"{gateway_name}: {error}")
                except GatewayDeclined as error:
                    breaker.record_success()
                    status, external = RefundStatus.FAILED, None
                    code = error.vendor_code or "declined"
                    failure = errors.RefundDeclined(f"{gateway_name} declined: {error}")
                except Exception as error:
                    if not isinstance(error, GatewayOutcomeUnknown):
                        logger.exception("gateway %s raised outside the taxonomy", gateway_name)
                    breaker.record_failure()
                    status, external, code = RefundStatus.UNKNOWN, None, None
                else:
                    breaker.record_success()
                    status, external, code = (
                        RefundStatus.SUCCEEDED,
                        result.external_refund_id,
                        None,
                    )
            span.set_attribute("refund.status", status)
        outcome = await self._record_refund(payment, amount, refund_id, status, external, code)
        if failure is not None:
            failure.extra["refund_id"] = str(refund_id)
            raise failure
        return outcome

    async def _record_refund(
        self,
        payment: Payment,
        amount: int,
        refund_id: uuid.UUID,
        status: RefundStatus,
        external_refund_id: str | None,
        failure_code: str | None,
    ) -> RefundOutcome:
        now = self._now()
        async with self.database.write() as conn:
            await ledger.finish_refund(
                conn,
                refund_id,
                status=status,
                external_refund_id=external_refund_id,
                failure_code=failure_code,
                now=now,
            )
            current = await ledger.load_payment(conn, payment.id, for_update=True)
            to_status: PaymentStatus | None = None
            if status is RefundStatus.SUCCEEDED:
                to_status = await ledger.settle_refund_amount(conn, current, amount, now)
            elif status is RefundStatus.FAILED:
                await ledger.release_refund_claim(conn, payment.id, amount, now)
            await ledger.record_event(
                conn,
                payment_id=payment.id,
                kind=f"refund_{status}",
                from_status=current.status if to_status else None,
                to_status=to_status,
                gateway=payment.gateway,
                accepted=status is RefundStatus.SUCCEEDED,
                reason=f"refund {refund_id}: {status}"
                + (f" ({failure_code})" if failure_code else ""),
                detail={"refund_id": str(refund_id), "amount_fractions": amount},
                now=now,
            )
            refund = await ledger.get_refund(conn, refund_id)
            updated = await ledger.get_payment(conn, payment.id)
        if refund is None or updated is None:  # pragma: no cover - both were just written
            raise RuntimeError(f"refund {refund_id} vanished")
        return RefundOutcome(refund=refund, payment=updated, created=True)

    # -- reads ----------------------------------------------------------------------------

    async def history(self, payment_id: uuid.UUID) -> PaymentHistory:
        """The payment with its attempts, refunds and events."""
        async with self.database.read() as conn:
            found = await ledger.history(conn, payment_id)
        if found is None:
            raise errors.PaymentNotFound(f"no payment with id {payment_id}", field="id")
        return found


def _trace_decision(span: trace.Span, decision: RouteDecision) -> None:
    span.set_attribute("routing.strategy", decision.strategy)
    span.set_attribute("routing.currency", decision.currency)
    span.set_attribute("routing.candidates", [view.gateway for view in decision.order])
    span.set_attribute("routing.weights", [view.effective_weight for view in decision.order])
    span.set_attribute("routing.breakers", [str(view.breaker) for view in decision.order])
    span.set_attribute("routing.skipped", [view.gateway for view in decision.skipped])
