"""One call to a gateway: its deadline, its span, its duration metric, what its answer or error
means for routing, and the breaker's bookkeeping.

Every call the platform makes to a gateway plugin goes through :func:`call_gateway`, under the
gateway's deadline (:func:`within_deadline`): past it the platform stops waiting, whatever the
plugin does, and the call's outcome is unknown, as a timeout's is. That bound is what lets a
worker judge a call abandoned once ``reconcile_after_seconds`` have passed: no live process can
still be making it. The answer is checked for what the platform must store (a vendor id it
cannot hold is no usable answer), and the error is translated from the contract's taxonomy into
an :class:`AttemptOutcome` (a decline with its :class:`DeclineKind`). A plugin that raises
anything else has a bug; the call is then treated as one whose outcome is unknown, since nobody
can say whether the vendor acted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from opentelemetry import trace
from payments_plugins import (
    Gateway,
    GatewayDeclined,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
)

from payments_platform.lifecycle import AttemptOutcome, DeclineKind
from payments_platform.store.text import decline_code, unstorable_id
from payments_platform.telemetry import LATE_GATEWAY_ANSWERS, gateway_call_timer
from payments_platform.usecases.dependencies import Dependencies, LiveGateway

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("payments_platform")

T = TypeVar("T")

MONEY_OPERATIONS = frozenset({"initiate", "refund"})
"""Calls that may move money; their outcomes are what a gateway's breaker counts. Lookups
(``status``, ``refund_status``) change nothing and are retried by their jobs."""


@dataclass(frozen=True)
class CallResult(Generic[T]):
    """What became of one gateway call."""

    outcome: AttemptOutcome
    answer: T | None = None
    failure: Exception | None = None
    decline: DeclineKind | None = None
    """A declined call's kind: soft only where the plugin said so and its type declares soft
    declines."""

    @property
    def error(self) -> str | None:
        """The failure as text for the records, or None when the call was answered."""
        return None if self.failure is None else str(self.failure)

    @property
    def failure_code(self) -> str:
        """The decline code to store: the vendor's own, or ``declined``."""
        vendor_code = (
            self.failure.vendor_code if isinstance(self.failure, GatewayDeclined) else None
        )
        return decline_code(vendor_code)


class DeadlinePassed(GatewayOutcomeUnknown):
    """The plugin did not finish the call within its deadline: the platform stopped waiting."""


async def within_deadline(
    call: Awaitable[T], *, seconds: float, gateway_name: str, operation: str
) -> T:
    """Await ``call`` for at most ``seconds``; past that, raise :class:`DeadlinePassed`.

    The call runs as a task of its own, cancelled and left behind when the deadline passes:
    a plugin that swallows the cancellation, or shields its work from it, cannot hold the
    platform beyond its deadline. What such a call does afterwards is logged, never used.
    """
    task = asyncio.ensure_future(call)
    try:
        await asyncio.wait((task,), timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():
        return task.result()
    task.cancel()
    task.add_done_callback(_LateAnswer(gateway_name, operation, seconds))
    raise DeadlinePassed(
        f"{gateway_name} {operation}: no answer within its deadline of {seconds:g} s"
        " (deadline_seconds); the platform stopped waiting"
    )


class _LateAnswer:
    """Notes a call left behind at its deadline that went on despite its cancellation."""

    def __init__(self, gateway_name: str, operation: str, seconds: float) -> None:
        self.gateway_name = gateway_name
        self.operation = operation
        self.seconds = seconds
        self.left_at = time.monotonic()

    def __call__(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            return  # the plugin stopped when told to: nothing went on behind the platform's back
        failure = task.exception()
        LATE_GATEWAY_ANSWERS.labels(self.gateway_name, self.operation).inc()
        logger.warning(
            "gateway %s %s %s %.1f s after its deadline of %g s, having ignored its"
            " cancellation; what it did is not used, the call is reconciled",
            self.gateway_name,
            self.operation,
            "answered" if failure is None else f"raised {type(failure).__name__}",
            time.monotonic() - self.left_at,
            self.seconds,
        )


async def call_gateway(
    deps: Dependencies,
    gateway_name: str,
    operation: str,
    send: Callable[[Gateway], Awaitable[T]],
    *,
    vendor_id: Callable[[T], str | None] = lambda _answer: None,
    refusal: Callable[[T], str | None] = lambda _answer: None,
    attributes: Mapping[str, str] | None = None,
) -> CallResult[T]:
    """Make one call to the enabled gateway ``gateway_name`` and classify how it ended.

    ``vendor_id`` names the id in the answer that the platform will store; one it cannot store
    makes the answer unusable (an unknown outcome: the vendor may have acted on it), as does
    an answer ``refusal`` says why it refuses.
    """
    live = deps.gateways[gateway_name]
    with tracer.start_as_current_span(f"payments.gateway.{operation}") as span:
        span.set_attribute("gateway.name", gateway_name)
        for key, value in (attributes or {}).items():
            span.set_attribute(key, value)
        with gateway_call_timer(gateway_name, operation) as timing:
            try:
                answer = _storable(
                    await within_deadline(
                        send(live.gateway),
                        seconds=live.deadline_seconds,
                        gateway_name=gateway_name,
                        operation=operation,
                    ),
                    vendor_id,
                    refusal,
                )
            except Exception as error:
                result: CallResult[T] = CallResult(
                    _outcome_of(error, gateway_name),
                    failure=error,
                    decline=_decline_kind(error, live),
                )
            else:
                result = CallResult(AttemptOutcome.ACCEPTED, answer=answer)
            timing["outcome"] = _metric_outcome(operation, result.outcome)
        span.set_attribute("gateway.outcome", result.outcome)
        if result.decline is not None:
            span.set_attribute("gateway.decline", result.decline)
    if operation in MONEY_OPERATIONS:
        breaker = deps.routing.breaker(gateway_name)
        if result.outcome in (AttemptOutcome.ACCEPTED, AttemptOutcome.DECLINED):
            breaker.record_success()
        else:
            breaker.record_failure()
    return result


def _storable(
    answer: T, vendor_id: Callable[[T], str | None], refusal: Callable[[T], str | None]
) -> T:
    """The answer, if the id in it can be stored and nothing in it is refused; else it is no
    usable answer."""
    named = vendor_id(answer)
    if named is not None and (why := unstorable_id(named)):
        raise GatewayOutcomeUnknown(f"the gateway answered an id that {why}")
    if why := refusal(answer):
        # A plugin that breaks its own declaration: the operator is to hear of it.
        logger.error("%s; treated as an unknown outcome", why)
        raise GatewayOutcomeUnknown(why)
    return answer


def _outcome_of(failure: Exception, gateway_name: str) -> AttemptOutcome:
    """What a gateway call's error means for routing and the breaker."""
    if isinstance(failure, GatewayUnavailable):
        return AttemptOutcome.UNAVAILABLE
    if isinstance(failure, GatewayDeclined):
        return AttemptOutcome.DECLINED
    if isinstance(failure, DeadlinePassed):
        logger.warning("%s", failure)
    elif not isinstance(failure, GatewayOutcomeUnknown):
        logger.error(
            "gateway %s raised outside the error taxonomy; treated as an unknown outcome",
            gateway_name,
            exc_info=failure,
        )
    return AttemptOutcome.UNKNOWN


def _decline_kind(failure: Exception, live: LiveGateway) -> DeclineKind | None:
    """A decline's kind, or None for any other failure. A soft decline from a gateway whose
    type does not declare soft declines is taken as hard: the platform acts on nothing a type
    did not declare."""
    if not isinstance(failure, GatewayDeclined):
        return None
    if not failure.soft:
        return DeclineKind.HARD
    if not live.capabilities.soft_declines:
        logger.warning(
            "gateway %s declined softly, but its type %s does not declare soft_declines; taken"
            " as a hard decline",
            live.name,
            live.type_name,
        )
        return DeclineKind.HARD
    return DeclineKind.SOFT


def _metric_outcome(operation: str, outcome: AttemptOutcome) -> str:
    # A lookup that answers has accepted nothing: it answered.
    if outcome is AttemptOutcome.ACCEPTED and operation not in MONEY_OPERATIONS:
        return "answered"
    return str(outcome)
