"""The failover loop: offer a pending payment to the routing decision's candidates in order,
until one answers definitively.

A gateway that certainly holds no money for the payment may pass it on to the next candidate:
an *unavailable* one (it did not process it), and one that declined it *softly* (the payer may
succeed elsewhere: the issuer unavailable, try again later), the latter at most
``routing.soft_decline_attempts`` times per payment. A hard decline rejects it, and so does a
soft one with no candidate or budget left; no usable answer makes it ``unknown`` and it is
reconciled, never sent elsewhere: that could charge the payer twice. Every call is claimed
before it is made: the ``in_flight`` attempt, which a worker reconciles should this process die
before the answer is recorded, is committed first, with no transaction open during the call,
and the answer is recorded in a transaction of its own (a soft decline in the one that claims
the next call).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from payments_plugins import (
    CaptureMode,
    InitiateRequest,
    InitiateResult,
    NextAction,
    NextActionType,
)
from payments_plugins.messages import NEXT_ACTION_TYPES

from payments_platform.jobs import RetryLater
from payments_platform.lifecycle import (
    NO_GATEWAY_AVAILABLE,
    AttemptOutcome,
    DeclineKind,
    PaymentStatus,
)
from payments_platform.records import Payment
from payments_platform.routing import PaymentFacts, RouteDecision
from payments_platform.store import attempts, events, payments
from payments_platform.telemetry import SOFT_DECLINES, current_trace_parent
from payments_platform.usecases import webhooks
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.gateway_call import CallResult, call_gateway
from payments_platform.usecases.transitions import StatusChange, change_status

tracer = trace.get_tracer("payments_platform")


class ClaimedAttempt(NamedTuple):
    """A gateway call written down and about to be made."""

    gateway: str
    reason: str
    attempt_id: int


class SoftDecline(NamedTuple):
    """A gateway that declined the payment softly: the decline the payment ends with, should no
    other gateway take it."""

    gateway: str
    failure_code: str
    error: str


class PassedOn(NamedTuple):
    """What became of a soft decline: ``result`` (as ``payments_soft_declines_total`` counts
    it), and the next call claimed, or the payment as the decline left it."""

    result: str
    claimed: ClaimedAttempt | None = None
    payment: Payment | None = None


@dataclass
class RoutePlan:
    """Where a routing run stands: what each candidate is asked, the decision, the next
    candidate, the call claimed."""

    request: InitiateRequest
    decision: RouteDecision
    position: int = 0
    passed_over: list[str] = field(default_factory=list)
    """Why each candidate so far was passed over, in order (``json unavailable``, ``soap
    (breaker open)``, ``a soft decline at json``): the next attempt's reason says it."""
    claimed: ClaimedAttempt | None = None
    soft_declined: SoftDecline | None = None
    """The latest soft decline, which the payment ends with if no other gateway takes it."""
    soft_retries: int = 0
    """How many times a soft decline passed the payment on (``routing.soft_decline_attempts``
    bounds it)."""


async def route_payment(deps: Dependencies, payment_id: uuid.UUID, *, final: bool) -> Payment:
    """Route a pending payment nobody is sending (a queued one): claim it, then follow the
    route.

    When no gateway can be reached the payment is rejected if ``final``; otherwise it stays
    pending and :class:`RetryLater` is raised (a queued payment's job retries it).
    """
    claimed = await deps.database.write(
        functools.partial(claim_for_routing, deps=deps, payment_id=payment_id)
    )
    if isinstance(claimed, Payment):
        return claimed
    return await follow_route(deps, claimed, final=final)


def claim_for_routing(
    conn: sa.Connection, *, deps: Dependencies, payment_id: uuid.UUID
) -> Payment | RoutePlan:
    """The row-level claim: only a pending payment with no call in flight is sent. Returns the
    payment as it is when it is not to be sent."""
    payment = payments.load(conn, payment_id, for_update=True)
    if payment.status is not PaymentStatus.PENDING or attempts.in_flight(conn, payment_id):
        return payment
    request = InitiateRequest(
        payment_id=payment.id,
        amount=payment.amount,
        return_url=payment.return_url,
        description=payment.description,
        capture=payment.capture_mode,
    )
    return plan_route(conn, deps, request, merchant=payment.merchant, metadata=payment.metadata)


def plan_route(
    conn: sa.Connection,
    deps: Dependencies,
    request: InitiateRequest,
    *,
    merchant: str | None,
    metadata: dict[str, str],
) -> RoutePlan:
    """Decide the order of candidates for ``request`` (of ``merchant``, with ``metadata``)
    and claim the first call, in the caller's transaction, which holds the payment."""
    payment_id = request.payment_id
    facts = PaymentFacts(
        currency=request.amount.currency,
        amount_minor=request.amount.minor,
        capture=request.capture,
        merchant=merchant,
        metadata=metadata,
    )
    decision = deps.routing.decide(facts, unable_to_take(deps, request.capture))
    with tracer.start_as_current_span("payments.route") as span:
        _trace_decision(span, decision)
    events.record(
        conn,
        payment_id=payment_id,
        kind="routing_decision",
        reason=(f"rule {decision.rule}, then the " if decision.rule else "")
        + f"{decision.strategy} strategy, {len(decision.order)} candidate(s)"
        + "".join(f"; {left.gateway} left out: {left.reason}" for left in decision.left_out),
        detail=msgspec.to_builtins(decision),
        now=deps.now(),
    )
    plan = RoutePlan(request=request, decision=decision)
    following = _next_candidate(deps, plan)
    if following is not None:
        plan.claimed = claim_attempt(conn, deps, payment_id, *following)
    return plan


def unable_to_take(deps: Dependencies, capture: CaptureMode) -> dict[str, str]:
    """The enabled gateways that cannot take a payment with ``capture``, and why."""
    if capture is not CaptureMode.MANUAL:
        return {}
    return {
        name: f"type {live.type_name} does not declare manual_capture"
        for name, live in deps.gateways.items()
        if not live.capabilities.manual_capture
    }


async def follow_route(deps: Dependencies, plan: RoutePlan, *, final: bool) -> Payment:
    """Make the claimed call, and on to the next candidate for as long as each is unavailable
    or declines softly (within the budget)."""
    payment_id = plan.request.payment_id
    while plan.claimed is not None:
        claimed, plan.claimed = plan.claimed, None
        answered = await _attempt(deps, plan, claimed)
        if answered is not None:
            return answered
    if plan.soft_declined is not None:
        # A gateway said no, holding nothing; those after it could not be reached.
        return await deps.database.write(
            functools.partial(reject_soft_declined, deps=deps, payment_id=payment_id, plan=plan)
        )
    why = "no gateway could be reached: " + (", ".join(plan.passed_over) or "none healthy")
    if not final:
        raise RetryLater(why)
    return await deps.database.write(
        functools.partial(reject_unroutable, deps=deps, payment_id=payment_id, why=why)
    )


def _next_candidate(deps: Dependencies, plan: RoutePlan) -> tuple[str, str] | None:
    """The next candidate whose breaker lets a call through, and why it is chosen."""
    while plan.position < len(plan.decision.order):
        position = plan.position
        plan.position += 1
        name = plan.decision.order[position].gateway
        breaker = deps.routing.breaker(name)
        if breaker.try_acquire():
            return name, plan.decision.reason(position, plan.passed_over)
        plan.passed_over.append(f"{name} (breaker {breaker.state})")
    return None


def claim_attempt(
    conn: sa.Connection,
    deps: Dependencies,
    payment_id: uuid.UUID,
    gateway_name: str,
    reason: str,
) -> ClaimedAttempt:
    """Record the call about to be made. Should this process die before it records the answer,
    the attempt stays ``in_flight`` and is its own guard: a worker's sweep
    (:func:`~payments_platform.jobs.guard_calls_in_flight`) finds it overdue and reconciles it."""
    attempt_id = attempts.insert(
        conn,
        payment_id=payment_id,
        gateway=gateway_name,
        reason=reason,
        now=deps.now(),
        trace_parent=current_trace_parent(),
    )
    return ClaimedAttempt(gateway_name, reason, attempt_id)


async def _attempt(deps: Dependencies, plan: RoutePlan, claimed: ClaimedAttempt) -> Payment | None:
    """Make a claimed call and record its end; None means the payment goes on: to the call
    now claimed in ``plan.claimed``, or, with none, to the end of the route."""
    request = plan.request
    payment_id = request.payment_id
    declared = deps.gateways[claimed.gateway].capabilities.next_actions
    result = await call_gateway(
        deps,
        claimed.gateway,
        "initiate",
        lambda gateway: gateway.initiate(request),
        vendor_id=lambda answer: answer.external_id,
        refusal=lambda answer: next_action_refusal(answer.next_action, declared),
        attributes={"gateway.reason": claimed.reason},
    )
    if result.outcome is AttemptOutcome.UNAVAILABLE:
        await deps.database.write(
            functools.partial(record_unavailable, deps=deps, claimed=claimed, result=result)
        )
        plan.passed_over.append(f"{claimed.gateway} unavailable")
        following = _next_candidate(deps, plan)
        if following is not None:
            plan.claimed = await deps.database.write(
                functools.partial(
                    claim_attempt,
                    deps=deps,
                    payment_id=payment_id,
                    gateway_name=following[0],
                    reason=following[1],
                )
            )
        return None
    if result.decline is DeclineKind.SOFT:
        passed = await deps.database.write(
            functools.partial(
                pass_on_soft_decline, deps=deps, plan=plan, claimed=claimed, result=result
            )
        )
        _count_soft_decline(claimed, result, passed)
        plan.claimed = passed.claimed
        return passed.payment
    return await deps.database.write(
        functools.partial(
            record_answer,
            deps=deps,
            payment_id=payment_id,
            claimed=claimed,
            result=result,
        )
    )


def pass_on_soft_decline(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    plan: RoutePlan,
    claimed: ClaimedAttempt,
    result: CallResult[InitiateResult],
) -> PassedOn:
    """A gateway declined the payment softly, holding no money for it: close its attempt and
    claim the next candidate's call in one transaction, so that the payment is never pending
    with no call in flight; or, with no budget or candidate left, reject it as declined."""
    payment_id = plan.request.payment_id
    payment = payments.load(conn, payment_id, for_update=True)
    if payment.status is not PaymentStatus.PENDING:
        # Moved meanwhile (a guard judged the call lost): the decline is its answer.
        outcome, following = "not_pending", None
    elif plan.soft_retries >= deps.soft_decline_attempts:
        outcome, following = "budget_spent", None
    else:
        plan.passed_over.append(f"a soft decline at {claimed.gateway}")
        following = _next_candidate(deps, plan)
        outcome = "no_candidate" if following is None else "retried"
    if following is None:
        why = {
            "budget_spent": f"routing.soft_decline_attempts ({deps.soft_decline_attempts}) used up",
            "no_candidate": "no other gateway to try",
        }.get(outcome)
        moved = record_answer(
            conn, deps=deps, payment_id=payment_id, claimed=claimed, result=result, why=why
        )
        return PassedOn(outcome, payment=moved)
    attempts.finish(
        conn,
        claimed.attempt_id,
        outcome=result.outcome,
        error=attempt_error(result),
        now=deps.now(),
    )
    plan.soft_retries += 1
    plan.soft_declined = SoftDecline(
        claimed.gateway, result.failure_code, attempt_error(result) or "soft decline"
    )
    return PassedOn(outcome, claimed=claim_attempt(conn, deps, payment_id, *following))


def _count_soft_decline(
    claimed: ClaimedAttempt, result: CallResult[InitiateResult], passed: PassedOn
) -> None:
    """Count a soft decline and note it on the current span (the request's or the job's)."""
    SOFT_DECLINES.labels(claimed.gateway, passed.result).inc()
    event: dict[str, str] = {
        "gateway": claimed.gateway,
        "vendor_code": result.failure_code,
        "result": passed.result,
    }
    if passed.claimed is not None:
        event["next_gateway"] = passed.claimed.gateway
    trace.get_current_span().add_event("payments.soft_decline", event)


def attempt_error(result: CallResult[InitiateResult]) -> str | None:
    """The error an attempt records: a decline's, with its kind (``soft decline: ...``)."""
    if result.decline is None or result.error is None:
        return result.error
    return f"{result.decline} decline: {result.error}"


def record_unavailable(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    claimed: ClaimedAttempt,
    result: CallResult[InitiateResult],
) -> None:
    """The vendor certainly did not process the call: close the attempt."""
    attempts.finish(
        conn, claimed.attempt_id, outcome=result.outcome, error=result.error, now=deps.now()
    )


def record_answer(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    payment_id: uuid.UUID,
    claimed: ClaimedAttempt,
    result: CallResult[InitiateResult],
    why: str | None = None,
) -> Payment:
    """Record a gateway's definitive answer (or its silence) and move the payment with it;
    ``why`` says why a soft decline is not tried elsewhere."""
    gateway = claimed.gateway
    external_id = result.answer.external_id if result.answer is not None else None
    attempts.finish(
        conn,
        claimed.attempt_id,
        outcome=result.outcome,
        error=attempt_error(result),
        external_id=external_id,
        now=deps.now(),
    )
    next_action = None
    if result.outcome is AttemptOutcome.ACCEPTED:
        status, reason, failure_code = PaymentStatus.INITIATED, f"accepted by {gateway}", None
        next_action = result.answer.next_action if result.answer is not None else None
    elif result.outcome is AttemptOutcome.DECLINED:
        status, failure_code = PaymentStatus.REJECTED, result.failure_code
        kind = f"{result.decline or DeclineKind.HARD} decline" + (f", {why}" if why else "")
        reason = f"declined by {gateway} ({kind}): {result.error}"
    else:
        # Outcome unknown, or a plugin bug after which nobody can tell whether the vendor
        # acted: never fail over, reconcile.
        status, failure_code = PaymentStatus.UNKNOWN, None
        reason = f"no usable answer from {gateway}: {result.error}"
    moved = change_status(
        conn,
        deps,
        payment_id,
        StatusChange(
            status=status,
            reason=reason,
            failure_code=failure_code,
            gateway=gateway,
            external_id=external_id,
            next_action=next_action,
            # A guard that fired meanwhile may have moved it to unknown; an answer that arrives
            # after that is still the truth (no answer, as before, changes nothing).
            expected=(PaymentStatus.PENDING,)
            if status is PaymentStatus.UNKNOWN
            else (PaymentStatus.PENDING, PaymentStatus.UNKNOWN),
        ),
    )
    if moved.moved and external_id is not None:
        return webhooks.replay_early_webhooks(conn, deps, moved.payment)
    return moved.payment


def next_action_refusal(
    action: NextAction | None, declared: frozenset[NextActionType]
) -> str | None:
    """Why a gateway's next action cannot be handed to a payer, or None: a kind its type did
    not declare. The kind is told by the exact type: the contract checks a ``RedirectAction``
    or ``DisplayAction`` however it is built, but a plugin's subclass could skip the checks."""
    if action is None:
        return None
    kind = NEXT_ACTION_TYPES.get(type(action))
    if kind is None or kind not in declared:
        return (
            f"the gateway answered a {kind or type(action).__name__} next action its type does"
            f" not declare (Capabilities.next_actions: {sorted(declared) or 'none'})"
        )
    return None


def reject_soft_declined(
    conn: sa.Connection, *, deps: Dependencies, payment_id: uuid.UUID, plan: RoutePlan
) -> Payment:
    """A gateway declined the payment softly and none of those after it could be reached: the
    payment is rejected as that gateway declined it (a retry of the same id is a repeat)."""
    declined = plan.soft_declined
    if declined is None:  # pragma: no cover - the caller checked
        raise ValueError("no soft decline to end the payment with")
    return change_status(
        conn,
        deps,
        payment_id,
        StatusChange(
            status=PaymentStatus.REJECTED,
            reason=f"declined by {declined.gateway} ({declined.error}); no other gateway could"
            " take it: " + ", ".join(plan.passed_over),
            failure_code=declined.failure_code,
            gateway=declined.gateway,
            expected=(PaymentStatus.PENDING,),
        ),
    ).payment


def reject_unroutable(
    conn: sa.Connection, *, deps: Dependencies, payment_id: uuid.UUID, why: str
) -> Payment:
    """No candidate could be reached: the payment is rejected, and may be routed again."""
    return change_status(
        conn,
        deps,
        payment_id,
        StatusChange(
            status=PaymentStatus.REJECTED,
            reason=why,
            failure_code=NO_GATEWAY_AVAILABLE,
            expected=(PaymentStatus.PENDING,),
        ),
    ).payment


def _trace_decision(span: trace.Span, decision: RouteDecision) -> None:
    span.set_attribute("routing.strategy", decision.strategy)
    span.set_attribute("routing.currency", decision.currency)
    span.set_attribute("routing.candidates", [view.gateway for view in decision.order])
    span.set_attribute("routing.weights", [view.effective_weight for view in decision.order])
    span.set_attribute("routing.breakers", [str(view.breaker) for view in decision.order])
    span.set_attribute("routing.skipped", [view.gateway for view in decision.skipped])
    if decision.rule is not None:
        span.set_attribute("routing.rule", decision.rule)
