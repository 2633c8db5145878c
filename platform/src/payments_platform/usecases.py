"""The payment use cases: initiate, apply a vendor's webhook, refund, read.

They know nothing of HTTP, so a queue consumer drives them as well (see ``settlement``). The rule
they keep: no transaction is held open across a gateway call. Work is claimed in one short
transaction (a row written or conditionally updated, together with a guard job that reconciles
it should this process die), the gateway is called, and the result recorded in another.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, NamedTuple

import msgspec
import sqlalchemy as sa
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

from payments_platform import errors, jobs, ledger
from payments_platform.database import Database
from payments_platform.jobs import JobKind, RetryLater
from payments_platform.lifecycle import (
    REFUNDABLE,
    PaymentStatus,
    WebhookVerdict,
    judge_webhook,
)
from payments_platform.logs import payment_logged
from payments_platform.records import (
    AttemptOutcome,
    Event,
    Payment,
    PaymentHistory,
    Refund,
    RefundStatus,
)
from payments_platform.routing import RouteDecision, RoutingTable
from payments_platform.telemetry import PAYMENT_OUTCOMES, current_trace_parent, gateway_call

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("payments_platform")

MAX_EXTERNAL_ID_LENGTH = 255
"""The longest vendor id the platform stores (``payments.external_id`` and the like)."""

NO_GATEWAY_AVAILABLE = "no-gateway-available"
"""``failure_code`` of a payment no gateway could be reached for."""
NOT_RECEIVED = "not-received"
"""``failure_code`` of a payment its gateway says it never received."""
RETRYABLE_REJECTIONS = frozenset({NO_GATEWAY_AVAILABLE, NOT_RECEIVED})
"""Rejections after which no vendor holds the payment, so the same id may be routed again."""


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Dispatch(enum.StrEnum):
    """When gateways are called."""

    SYNC = "sync"
    """Within the client's request: it gets the gateway's answer."""
    QUEUE = "queue"
    """By a worker: the client gets 202 and follows ``GET /payments/{id}``."""


class LifecycleSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How payments are dispatched, reconciled and expired."""

    dispatch: Dispatch = Dispatch.SYNC
    reconcile_after_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 120.0
    """When a gateway call has no recorded end this long after it started, its process is
    presumed dead and the payment or refund is reconciled. Longer than any gateway call."""
    expire_after_seconds: Annotated[float, msgspec.Meta(gt=0, le=90 * 86_400)] = 86_400.0
    """A payment still ``initiated`` this long after its gateway took it is expired."""


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


class _ClaimedAttempt(NamedTuple):
    """A gateway call written down (with its guard job) and about to be made."""

    gateway: str
    reason: str
    attempt_id: int
    guard_job: int


@dataclass
class _RoutePlan:
    """Where a routing run stands: the decision, the next candidate, the call claimed."""

    decision: RouteDecision
    position: int = 0
    unavailable: list[str] = field(default_factory=list)
    claimed: _ClaimedAttempt | None = None


class _Claimed(msgspec.Struct, frozen=True):
    """A refund claimed in the database and not yet answered by the gateway."""

    payment: Payment
    refund: Refund
    guard_job: int | None


class Payments:
    """The use cases over one database and one set of live gateways."""

    def __init__(
        self,
        database: Database,
        routing: RoutingTable,
        gateways: Mapping[str, LiveGateway],
        *,
        lifecycle: LifecycleSettings | None = None,
        job_attempts: int = 8,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.database = database
        self.routing = routing
        self.gateways = dict(gateways)
        self.lifecycle = lifecycle or LifecycleSettings()
        self.job_attempts = job_attempts
        self.now = clock

    @property
    def queued(self) -> bool:
        """Gateways are called by workers, not within requests."""
        return self.lifecycle.dispatch is Dispatch.QUEUE

    def gateways_of_type(self, type_name: str) -> list[LiveGateway]:
        """The enabled gateways that are instances of ``type_name``, in config order."""
        return [live for live in self.gateways.values() if live.type_name == type_name]

    def enqueue(
        self,
        conn: sa.Connection,
        kind: JobKind,
        payment_id: uuid.UUID,
        *,
        delay: float = 0.0,
        refund_id: uuid.UUID | None = None,
    ) -> int:
        """Write a job in the caller's transaction."""
        return jobs.enqueue(
            conn,
            kind,
            payment_id,
            now=self.now(),
            max_attempts=self.job_attempts,
            delay=delay,
            refund_id=refund_id,
            trace_parent=current_trace_parent(),
        )

    # -- initiate -------------------------------------------------------------------------

    async def initiate(
        self, payment_id: uuid.UUID, amount: Amount, *, merchant: str | None = None
    ) -> InitOutcome:
        """Start a payment for ``merchant``, or return the one this id already started."""
        with (
            tracer.start_as_current_span("payments.initiate") as span,
            payment_logged(payment_id),
        ):
            span.set_attribute("payment.id", str(payment_id))
            span.set_attribute("payment.currency", amount.currency)
            if not self.routing.supports(amount.currency):
                raise errors.CurrencyNotSupported(
                    f"no enabled gateway takes {amount.currency}", field="currency"
                )
            now = self.now()

            def begin(conn: sa.Connection) -> InitOutcome | tuple[_RoutePlan, bool]:
                created = ledger.insert_payment(
                    conn,
                    payment_id=payment_id,
                    merchant=merchant,
                    currency=amount.currency,
                    amount_minor=amount.minor,
                    now=now,
                )
                if created:
                    ledger.record_event(
                        conn,
                        payment_id=payment_id,
                        kind="status_changed",
                        to_status=PaymentStatus.PENDING,
                        reason="payment requested",
                        now=now,
                    )
                else:
                    existing = ledger.load_payment(conn, payment_id, for_update=True)
                    if not _owned(existing, merchant):
                        # Say nothing of the payment: it belongs to someone else.
                        raise errors.IdempotencyKeyReused(
                            f"payment id {payment_id} is already used", field="id"
                        )
                    if not self.claim_retry(conn, existing, amount, now):
                        span.set_attribute("payment.replay", True)
                        return InitOutcome(payment=existing, created=False)
                if self.queued:
                    self.enqueue(conn, JobKind.INITIATE, payment_id)
                    payment = ledger.load_payment(conn, payment_id)
                    return InitOutcome(payment=payment, created=created)
                # The payment row is ours under this transaction's lock: the routing decision
                # and the first attempt are written with it, saving two commits.
                return self._plan_route(conn, payment_id, amount), created

            begun = await self.database.write(begin)
            if isinstance(begun, InitOutcome):
                return begun
            plan, created = begun
            payment = await self._follow_route(payment_id, amount, plan, final=True)
            return InitOutcome(payment=payment, created=created)

    def claim_retry(
        self, conn: sa.Connection, existing: Payment, amount: Amount, now: datetime
    ) -> bool:
        """Decide what a repeated init does; True if it may route the payment again."""
        if existing.amount != amount:
            raise errors.IdempotencyKeyReused(
                f"payment {existing.id} exists with {existing.amount.format()};"
                f" this request asks for {amount.format()}",
                field="id",
            )
        if existing.status is PaymentStatus.PENDING:
            if self.queued:
                return False  # queued: the stored payment is the answer until a worker routes it
            raise errors.PaymentInProgress(
                f"payment {existing.id} is being sent to a gateway; ask again shortly",
                retry_after=1,
            )
        if not (
            existing.status is PaymentStatus.REJECTED
            and existing.failure_code in RETRYABLE_REJECTIONS
        ):
            return False
        # No vendor holds the payment, so trying again cannot charge twice.
        moved = ledger.move_payment(
            conn,
            existing.id,
            expected=PaymentStatus.REJECTED,
            now=now,
            status=PaymentStatus.PENDING,
            failure_code=None,
            gateway=None,
        )
        if moved:
            ledger.record_event(
                conn,
                payment_id=existing.id,
                kind="status_changed",
                from_status=PaymentStatus.REJECTED,
                to_status=PaymentStatus.PENDING,
                reason=f"retried after {existing.failure_code}",
                now=now,
            )
        return moved

    async def route(self, payment_id: uuid.UUID, amount: Amount, *, final: bool) -> Payment:
        """Offer a pending payment to the candidates in order until one answers definitively.

        When none can be reached the payment is rejected if ``final``; otherwise it stays
        pending and :class:`RetryLater` is raised (a queued payment's job retries it).
        """

        def claim(conn: sa.Connection) -> Payment | _RoutePlan:
            # The row-level claim: only a pending payment with no call in flight is sent.
            payment = ledger.load_payment(conn, payment_id, for_update=True)
            if payment.status is not PaymentStatus.PENDING or ledger.in_flight_attempt(
                conn, payment_id
            ):
                return payment
            return self._plan_route(conn, payment_id, amount)

        claimed = await self.database.write(claim)
        if isinstance(claimed, Payment):
            return claimed
        return await self._follow_route(payment_id, amount, claimed, final=final)

    def _plan_route(self, conn: sa.Connection, payment_id: uuid.UUID, amount: Amount) -> _RoutePlan:
        """Decide the order of candidates and claim the first call, in the caller's
        transaction, which holds the payment."""
        decision = self.routing.decide(amount.currency)
        with tracer.start_as_current_span("payments.route") as span:
            _trace_decision(span, decision)
        ledger.record_event(
            conn,
            payment_id=payment_id,
            kind="routing_decision",
            reason=f"{decision.strategy} strategy, {len(decision.order)} candidate(s)",
            detail=msgspec.to_builtins(decision),
            now=self.now(),
        )
        plan = _RoutePlan(decision=decision)
        claimed = self._next_candidate(plan)
        if claimed is not None:
            plan.claimed = self._claim_attempt(conn, payment_id, *claimed)
        return plan

    def _next_candidate(self, plan: _RoutePlan) -> tuple[str, str] | None:
        """The next candidate whose breaker lets a call through, and why it is chosen."""
        while plan.position < len(plan.decision.order):
            position = plan.position
            plan.position += 1
            name = plan.decision.order[position].gateway
            breaker = self.routing.route(name).breaker
            if breaker.try_acquire():
                return name, plan.decision.reason(position, plan.unavailable)
            plan.unavailable.append(f"{name} (breaker {breaker.state})")
        return None

    def _claim_attempt(
        self, conn: sa.Connection, payment_id: uuid.UUID, gateway_name: str, reason: str
    ) -> _ClaimedAttempt:
        """Record the call about to be made, with the guard job that reconciles it should
        this process die before recording the answer."""
        attempt_id = ledger.insert_attempt(
            conn, payment_id=payment_id, gateway=gateway_name, reason=reason, now=self.now()
        )
        guard = self.enqueue(
            conn, JobKind.RECONCILE, payment_id, delay=self.lifecycle.reconcile_after_seconds
        )
        return _ClaimedAttempt(gateway_name, reason, attempt_id, guard)

    async def _follow_route(
        self, payment_id: uuid.UUID, amount: Amount, plan: _RoutePlan, *, final: bool
    ) -> Payment:
        while plan.claimed is not None:
            claimed, plan.claimed = plan.claimed, None
            outcome = await self._attempt(payment_id, amount, claimed)
            if outcome is not None:
                return outcome
            plan.unavailable.append(f"{claimed.gateway} unavailable")
            following = self._next_candidate(plan)
            if following is not None:
                gateway_name, reason = following
                plan.claimed = await self.database.write(
                    functools.partial(
                        self._claim_attempt,
                        payment_id=payment_id,
                        gateway_name=gateway_name,
                        reason=reason,
                    )
                )
        why = "no gateway could be reached: " + (", ".join(plan.unavailable) or "none healthy")
        if not final:
            raise RetryLater(why)
        return await self.database.write(
            lambda conn: self.settle(
                conn,
                payment_id,
                PaymentStatus.REJECTED,
                reason=why,
                failure_code=NO_GATEWAY_AVAILABLE,
                expected=(PaymentStatus.PENDING,),
            )
        )

    async def _attempt(
        self, payment_id: uuid.UUID, amount: Amount, claimed: _ClaimedAttempt
    ) -> Payment | None:
        """Make a claimed call; None means the gateway was unavailable and the next may be
        tried."""
        gateway_name, reason, attempt_id, guard = claimed
        live = self.gateways[gateway_name]
        breaker = self.routing.route(gateway_name).breaker
        failure: Exception | None = None
        with tracer.start_as_current_span("payments.gateway.initiate") as span:
            span.set_attribute("gateway.name", gateway_name)
            span.set_attribute("gateway.reason", reason)
            with gateway_call(gateway_name, "initiate") as call:
                try:
                    result = await live.gateway.initiate(
                        InitiateRequest(payment_id=payment_id, amount=amount)
                    )
                    check_vendor_id(result.external_id)
                except Exception as error:
                    failure = error
                outcome = _attempt_outcome(failure, gateway_name)
                call["outcome"] = outcome
            span.set_attribute("gateway.outcome", outcome)
        if outcome is AttemptOutcome.ACCEPTED:
            breaker.record_success()
            return await self._conclude(
                attempt_id,
                guard,
                outcome,
                payment_id,
                PaymentStatus.INITIATED,
                reason=f"accepted by {gateway_name}",
                gateway=gateway_name,
                external_id=result.external_id,
            )
        if outcome is AttemptOutcome.UNAVAILABLE:
            breaker.record_failure()
            now = self.now()

            def give_up(conn: sa.Connection) -> None:
                ledger.finish_attempt(
                    conn, attempt_id, outcome=outcome, error=str(failure), now=now
                )
                jobs.cancel(conn, guard)

            await self.database.write(give_up)
            return None
        if outcome is AttemptOutcome.DECLINED:
            breaker.record_success()
            vendor_code = failure.vendor_code if isinstance(failure, GatewayDeclined) else None
            return await self._conclude(
                attempt_id,
                guard,
                outcome,
                payment_id,
                PaymentStatus.REJECTED,
                reason=f"declined by {gateway_name}: {failure}",
                error=str(failure),
                failure_code=_failure_code(vendor_code),
                gateway=gateway_name,
            )
        # Outcome unknown, or a plugin bug after which we cannot tell whether the vendor
        # acted: never fail over, reconcile.
        breaker.record_failure()
        return await self._conclude(
            attempt_id,
            guard,
            outcome,
            payment_id,
            PaymentStatus.UNKNOWN,
            reason=f"no usable answer from {gateway_name}: {failure}",
            error=str(failure),
            gateway=gateway_name,
        )

    async def _conclude(
        self,
        attempt_id: int,
        guard: int,
        outcome: AttemptOutcome,
        payment_id: uuid.UUID,
        status: PaymentStatus,
        *,
        reason: str,
        gateway: str,
        error: str | None = None,
        failure_code: str | None = None,
        external_id: str | None = None,
    ) -> Payment:
        """Record a gateway's definitive answer (or its silence) in one transaction."""

        def conclude(conn: sa.Connection) -> Payment:
            ledger.finish_attempt(
                conn,
                attempt_id,
                outcome=outcome,
                error=error,
                external_id=external_id,
                now=self.now(),
            )
            jobs.cancel(conn, guard)
            return self.settle(
                conn,
                payment_id,
                status,
                reason=reason,
                failure_code=failure_code,
                gateway=gateway,
                external_id=external_id,
                # A guard that fired meanwhile may have moved it to unknown; an answer that
                # arrives after that is still the truth.
                expected=(PaymentStatus.PENDING, PaymentStatus.UNKNOWN),
            )

        return await self.database.write(conclude)

    def settle(
        self,
        conn: sa.Connection,
        payment_id: uuid.UUID,
        status: PaymentStatus,
        *,
        reason: str,
        expected: Sequence[PaymentStatus],
        failure_code: str | None = None,
        gateway: str | None = None,
        external_id: str | None = None,
    ) -> Payment:
        """Move the payment from one of ``expected`` to ``status`` and record it.

        Jobs that follow from the new status are written in the same transaction: an
        ``unknown`` payment gets reconciled, an ``initiated`` one expires in due course, and
        webhooks that named its external id before we knew it are applied.
        """
        now = self.now()
        before = ledger.load_payment(conn, payment_id, for_update=True)
        values: dict[str, object] = {"status": status, "failure_code": failure_code}
        if gateway is not None:
            values["gateway"] = gateway
        if external_id is not None:
            values["external_id"] = external_id
        moved = before.status in expected and ledger.move_payment(
            conn, payment_id, expected=before.status, now=now, **values
        )
        ledger.record_event(
            conn,
            payment_id=payment_id,
            kind="status_changed",
            from_status=before.status,
            to_status=status,
            gateway=gateway,
            accepted=moved,
            reason=reason if moved else f"{reason}; not applied: the payment is {before.status}",
            now=now,
        )
        if moved:
            PAYMENT_OUTCOMES.labels(
                gateway or before.gateway or "none", before.currency, status
            ).inc()
            logger.info("payment %s: %s -> %s (%s)", payment_id, before.status, status, reason)
            if status is PaymentStatus.UNKNOWN:
                self.enqueue(conn, JobKind.RECONCILE, payment_id, delay=1.0)
            elif status is PaymentStatus.INITIATED:
                self.enqueue(
                    conn,
                    JobKind.EXPIRE,
                    payment_id,
                    delay=self.lifecycle.expire_after_seconds,
                )
            if (
                external_id is not None
                and gateway is not None
                and self._replay_webhooks(conn, payment_id, gateway, external_id)
            ):
                return ledger.load_payment(conn, payment_id)
            return msgspec.structs.replace(
                before,
                status=status,
                failure_code=failure_code,
                gateway=gateway or before.gateway,
                external_id=external_id or before.external_id,
                updated_at=now,
            )
        return before

    def _replay_webhooks(
        self, conn: sa.Connection, payment_id: uuid.UUID, gateway: str, external_id: str
    ) -> bool:
        """Apply webhooks about ``external_id`` that arrived before the payment was known by it.

        A vendor may notify before the answer to the initiate is recorded; its webhook was
        kept (answered 404) and takes effect now, in arrival order.
        """
        live = self.gateways.get(gateway)
        siblings = [g.name for g in self.gateways_of_type(live.type_name)] if live else [gateway]
        waiting_webhooks = ledger.unmatched_webhooks(conn, siblings, external_id)
        for waiting in waiting_webhooks:
            reported = _reported_status(waiting)
            if reported is None:
                continue
            current = ledger.load_payment(conn, payment_id, for_update=True)
            verdict = judge_webhook(current.status, reported)
            if verdict is WebhookVerdict.APPLY:
                ledger.move_payment(
                    conn, payment_id, expected=current.status, now=self.now(), status=reported
                )
            ledger.record_event(
                conn,
                payment_id=payment_id,
                kind="webhook_replayed",
                from_status=current.status,
                to_status=reported if verdict is WebhookVerdict.APPLY else None,
                gateway=waiting.gateway,
                external_id=external_id,
                accepted=verdict is not WebhookVerdict.CONTRADICTS,
                reason=f"webhook event {waiting.id} ({reported}) applied late: {verdict}",
                body_sha256=waiting.body_sha256,
                now=self.now(),
            )
        return bool(waiting_webhooks)

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
            if event is not None and (why := unstorable_id(event.external_id)):
                event, rejection = None, f"the external id {why}"
            if event is None or live is None:
                await self._record_refused_webhook(gateways, body_hash, rejection)
                raise errors.InvalidWebhook(rejection)
            span.set_attribute("gateway.name", live.name)
            span.set_attribute("webhook.status", event.status)
            names = [candidate.name for candidate in gateways]
            now = self.now()

            def apply(conn: sa.Connection) -> WebhookOutcome | errors.PaymentProblem:
                payment = ledger.find_by_external_id(
                    conn, names, event.external_id, for_update=True
                )
                if payment is not None:
                    span.set_attribute("payment.id", str(payment.id))
                    return self._apply_status(conn, payment, event, live, body_hash, now)
                ledger.record_event(
                    conn,
                    payment_id=None,
                    kind="webhook",
                    gateway=live.name,
                    external_id=event.external_id,
                    accepted=False,
                    reason=f"no payment with external id {event.external_id!r} yet",
                    body_sha256=body_hash,
                    detail=msgspec.to_builtins(event),
                    now=now,
                )
                return errors.PaymentNotFound(
                    f"no payment known to {live.type_name} as {event.external_id!r}",
                    field="external_id",
                )

            outcome = await self.database.write(apply)
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

    def _apply_status(
        self,
        conn: sa.Connection,
        payment: Payment,
        event: WebhookEvent,
        live: LiveGateway,
        body_hash: str,
        now: datetime,
    ) -> WebhookOutcome | errors.PaymentProblem:
        try:
            reported: PaymentStatus | None = PaymentStatus(event.status.value)
        except ValueError:
            reported = None
        verdict = (
            WebhookVerdict.CONTRADICTS
            if reported is None
            else judge_webhook(payment.status, reported)
        )
        accepted = verdict is not WebhookVerdict.CONTRADICTS
        if verdict is WebhookVerdict.APPLY and reported is not None:
            ledger.move_payment(conn, payment.id, expected=payment.status, now=now, status=reported)
        reason = {
            WebhookVerdict.APPLY: f"{live.name} reports {event.status}",
            WebhookVerdict.REPEAT: f"{live.name} repeats {event.status}; nothing changes",
            WebhookVerdict.CONTRADICTS: (
                f"{live.name} reports {event.status}, which the lifecycle forbids"
                f" after {payment.status}"
            ),
        }[verdict]
        ledger.record_event(
            conn,
            payment_id=payment.id,
            kind="webhook",
            from_status=payment.status,
            to_status=reported if verdict is WebhookVerdict.APPLY else None,
            gateway=live.name,
            external_id=event.external_id,
            accepted=accepted,
            reason=reason,
            body_sha256=body_hash,
            detail=msgspec.to_builtins(event),
            now=now,
        )
        if not accepted:
            # Returned, not raised: raising would roll back the record of the refusal.
            return errors.TransitionNotAllowed(reason, extra={"payment_status": payment.status})
        current = ledger.load_payment(conn, payment.id)
        return WebhookOutcome(payment=current, changed=verdict is WebhookVerdict.APPLY)

    async def _record_refused_webhook(
        self, gateways: Sequence[LiveGateway], body_hash: str, reason: str
    ) -> None:
        now = self.now()
        await self.database.write(
            lambda conn: ledger.record_event(
                conn,
                payment_id=None,
                kind="webhook",
                gateway=gateways[0].name if len(gateways) == 1 else None,
                accepted=False,
                reason=reason,
                body_sha256=body_hash,
                now=now,
            )
        )

    # -- refunds --------------------------------------------------------------------------

    async def refund(
        self,
        payment_id: uuid.UUID,
        *,
        amount_minor: int | None = None,
        refund_id: uuid.UUID | None = None,
        merchant: str | None = None,
    ) -> RefundOutcome:
        """Refund ``amount_minor`` (default: all that is left) through the payment's gateway."""
        with (
            tracer.start_as_current_span("payments.refund") as span,
            payment_logged(payment_id),
        ):
            span.set_attribute("payment.id", str(payment_id))
            refund_id = refund_id or uuid.uuid4()
            span.set_attribute("refund.id", str(refund_id))
            claimed = await self._claim_refund(payment_id, amount_minor, refund_id, merchant)
            if isinstance(claimed, RefundOutcome):
                return claimed
            if claimed.guard_job is None:
                return RefundOutcome(refund=claimed.refund, payment=claimed.payment, created=True)
            outcome = await self.send_refund(claimed.payment, claimed.refund, claimed.guard_job)
            if outcome.refund.status is RefundStatus.FAILED:
                raise _refund_problem(outcome.refund)
            return outcome

    async def _claim_refund(
        self,
        payment_id: uuid.UUID,
        amount_minor: int | None,
        refund_id: uuid.UUID,
        merchant: str | None,
    ) -> _Claimed | RefundOutcome:
        """Take the amount out of what is left to refund, in one transaction with the refund
        row and, when sent now, a guard job; when queued, the job that sends it."""
        now = self.now()

        def claim(conn: sa.Connection) -> _Claimed | RefundOutcome:
            payment = ledger.get_payment(conn, payment_id, for_update=True)
            if payment is None or not _owned(payment, merchant):
                raise errors.PaymentNotFound(f"no payment with id {payment_id}", field="id")
            existing = ledger.get_refund(conn, refund_id)
            if existing is not None:
                return self._replay_refund(conn, existing, payment_id, amount_minor)
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
            if not ledger.claim_refund(conn, payment, amount, now):
                # Only reachable without a row lock (SQLite serialises writers instead).
                raise errors.RefundExceedsBalance("another refund took the balance first")
            ledger.insert_refund(
                conn,
                refund_id=refund_id,
                payment_id=payment_id,
                amount_minor=amount,
                gateway=payment.gateway,
                now=now,
                sent=not self.queued,
            )
            ledger.record_event(
                conn,
                payment_id=payment_id,
                kind="refund_requested",
                gateway=payment.gateway,
                reason=f"refund {refund_id} of {Amount(amount, payment.currency).format()}",
                detail={"refund_id": str(refund_id), "amount_fractions": amount},
                now=now,
            )
            delay = 0.0 if self.queued else self.lifecycle.reconcile_after_seconds
            job = self.enqueue(conn, JobKind.REFUND, payment_id, refund_id=refund_id, delay=delay)
            refund = ledger.get_refund(conn, refund_id)
            if refund is None:  # pragma: no cover - written just above
                raise RuntimeError(f"refund {refund_id} vanished")
            current = ledger.load_payment(conn, payment_id)
            return _Claimed(current, refund, None if self.queued else job)

        return await self.database.write(claim)

    def _replay_refund(
        self,
        conn: sa.Connection,
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
        payment = ledger.load_payment(conn, payment_id)
        return RefundOutcome(refund=existing, payment=payment, created=False)

    async def send_refund(
        self, payment: Payment, refund: Refund, guard_job: int | None, *, final: bool = True
    ) -> RefundOutcome:
        """Send a claimed refund to the payment's gateway and record the answer.

        The refund id is the vendor's idempotency reference, so sending again never pays out
        twice. Unavailable: failed (the claim is released) if ``final``, else
        :class:`RetryLater`. No usable answer: the refund is ``unknown`` and its job asks the
        gateway later.
        """
        gateway_name = refund.gateway
        live = self.gateways.get(gateway_name)
        if live is None:
            if not final:
                raise RetryLater(f"gateway {gateway_name!r} that took the payment is off")
            return await self.record_refund(
                refund, RefundStatus.FAILED, guard_job, failure_code="gateway-not-enabled"
            )
        request = RefundRequest(
            refund_id=refund.id,
            payment_id=payment.id,
            external_id=payment.external_id or "",
            amount=Amount(refund.amount_minor, payment.currency),
        )
        failure: Exception | None = None
        with tracer.start_as_current_span("payments.gateway.refund") as span:
            span.set_attribute("gateway.name", gateway_name)
            span.set_attribute("refund.id", str(refund.id))
            with gateway_call(gateway_name, "refund") as call:
                try:
                    result = await live.gateway.refund(request)
                    check_vendor_id(result.external_refund_id)
                except Exception as error:
                    failure = error
                outcome = _attempt_outcome(failure, gateway_name)
                call["outcome"] = outcome
            span.set_attribute("gateway.outcome", outcome)
        breaker = self.routing.route(gateway_name).breaker
        if outcome is AttemptOutcome.ACCEPTED:
            breaker.record_success()
            return await self.record_refund(
                refund,
                RefundStatus.SUCCEEDED,
                guard_job,
                external_refund_id=result.external_refund_id,
            )
        if outcome is AttemptOutcome.UNAVAILABLE:
            breaker.record_failure()
            if not final:
                raise RetryLater(f"{gateway_name} unavailable: {failure}") from failure
            return await self.record_refund(
                refund,
                RefundStatus.FAILED,
                guard_job,
                failure_code="gateway-unavailable",
                reason=str(failure),
            )
        if outcome is AttemptOutcome.DECLINED:
            breaker.record_success()
            vendor_code = failure.vendor_code if isinstance(failure, GatewayDeclined) else None
            return await self.record_refund(
                refund,
                RefundStatus.FAILED,
                guard_job,
                failure_code=_failure_code(vendor_code),
                reason=str(failure),
            )
        breaker.record_failure()
        return await self.record_refund(
            refund, RefundStatus.UNKNOWN, guard_job, reason=str(failure)
        )

    async def record_refund(
        self,
        refund: Refund,
        status: RefundStatus,
        guard_job: int | None,
        *,
        external_refund_id: str | None = None,
        failure_code: str | None = None,
        reason: str | None = None,
    ) -> RefundOutcome:
        """Record what became of a refund, moving the payment's refunded amounts with it.

        An unknown refund keeps its claim and gets a job that asks the gateway later.
        """
        now = self.now()

        def record(conn: sa.Connection) -> RefundOutcome:
            current_refund = ledger.get_refund(conn, refund.id)
            if current_refund is None:  # pragma: no cover - refunds are never deleted
                raise RuntimeError(f"refund {refund.id} vanished")
            payment = ledger.load_payment(conn, refund.payment_id, for_update=True)
            if current_refund.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
                # Settled meanwhile (by its reconciliation): the first definitive answer stands.
                return RefundOutcome(refund=current_refund, payment=payment, created=True)
            ledger.finish_refund(
                conn,
                refund.id,
                status=status,
                external_refund_id=external_refund_id,
                failure_code=failure_code,
                now=now,
            )
            if guard_job is not None:
                jobs.cancel(conn, guard_job)
            to_status: PaymentStatus | None = None
            if status is RefundStatus.SUCCEEDED:
                to_status = ledger.settle_refund_amount(conn, payment, refund.amount_minor, now)
            elif status is RefundStatus.FAILED:
                ledger.release_refund_claim(conn, payment.id, refund.amount_minor, now)
            elif guard_job is not None:
                self.enqueue(conn, JobKind.REFUND, payment.id, refund_id=refund.id, delay=1.0)
            amount = Amount(refund.amount_minor, payment.currency).format()
            ledger.record_event(
                conn,
                payment_id=payment.id,
                kind=f"refund_{status}",
                from_status=payment.status if to_status else None,
                to_status=to_status,
                gateway=refund.gateway,
                accepted=status is RefundStatus.SUCCEEDED,
                reason=f"refund {refund.id} of {amount}: {status}"
                + (f" ({failure_code})" if failure_code else "")
                + (f": {reason}" if reason else ""),
                detail={"refund_id": str(refund.id), "amount_fractions": refund.amount_minor},
                now=now,
            )
            updated_refund = ledger.get_refund(conn, refund.id)
            if updated_refund is None:  # pragma: no cover - just written
                raise RuntimeError(f"refund {refund.id} vanished")
            updated = ledger.load_payment(conn, payment.id)
            return RefundOutcome(refund=updated_refund, payment=updated, created=True)

        return await self.database.write(record)

    # -- reads ----------------------------------------------------------------------------

    async def history(
        self, payment_id: uuid.UUID, *, merchant: str | None = None
    ) -> PaymentHistory:
        """The payment with its attempts, refunds and events, if ``merchant`` may see it."""
        found = await self.database.read(lambda conn: ledger.history(conn, payment_id))
        if found is None or not _owned(found.payment, merchant):
            raise errors.PaymentNotFound(f"no payment with id {payment_id}", field="id")
        return found


def _failure_code(vendor_code: str | None) -> str:
    """The vendor's decline code as stored (64 characters at most, no NUL), or ``declined``."""
    return (vendor_code or "").replace("\x00", "")[:64] or "declined"


def unstorable_id(vendor_id: str) -> str | None:
    """Why a vendor's id cannot be stored as it is (PostgreSQL text holds no NUL), or None."""
    if not 0 < len(vendor_id) <= MAX_EXTERNAL_ID_LENGTH:
        return f"has {len(vendor_id)} characters (1 to {MAX_EXTERNAL_ID_LENGTH} expected)"
    if "\x00" in vendor_id:
        return "contains a NUL character"
    return None


def check_vendor_id(vendor_id: str) -> None:
    """A vendor id the platform cannot store is no usable answer (the vendor may have acted)."""
    if why := unstorable_id(vendor_id):
        raise GatewayOutcomeUnknown(f"the gateway answered an id that {why}")


def _attempt_outcome(failure: Exception | None, gateway_name: str) -> AttemptOutcome:
    """What a gateway call's error (or its absence) means for routing and the breaker."""
    if failure is None:
        return AttemptOutcome.ACCEPTED
    if isinstance(failure, GatewayUnavailable):
        return AttemptOutcome.UNAVAILABLE
    if isinstance(failure, GatewayDeclined):
        return AttemptOutcome.DECLINED
    if not isinstance(failure, GatewayOutcomeUnknown):
        logger.error(
            "gateway %s raised outside the error taxonomy; treated as an unknown outcome",
            gateway_name,
            exc_info=failure,
        )
    return AttemptOutcome.UNKNOWN


def _owned(payment: Payment, merchant: str | None) -> bool:
    """Whether ``merchant`` may see the payment: its own, or any while the API is open."""
    return merchant is None or payment.merchant == merchant


def _refund_problem(refund: Refund) -> errors.PaymentProblem:
    detail = f"refund {refund.id} failed ({refund.failure_code}); nothing was paid out"
    problem: errors.PaymentProblem
    if refund.failure_code in ("gateway-unavailable", "gateway-not-enabled"):
        problem = errors.GatewayUnavailable(detail)
    else:
        problem = errors.RefundDeclined(detail)
    problem.extra["refund_id"] = str(refund.id)
    return problem


def _reported_status(event: Event) -> PaymentStatus | None:
    status = (event.detail or {}).get("status")
    try:
        return PaymentStatus(status) if isinstance(status, str) else None
    except ValueError:
        return None


def _trace_decision(span: trace.Span, decision: RouteDecision) -> None:
    span.set_attribute("routing.strategy", decision.strategy)
    span.set_attribute("routing.currency", decision.currency)
    span.set_attribute("routing.candidates", [view.gateway for view in decision.order])
    span.set_attribute("routing.weights", [view.effective_weight for view in decision.order])
    span.set_attribute("routing.breakers", [str(view.breaker) for view in decision.order])
    span.set_attribute("routing.skipped", [view.gateway for view in decision.skipped])
