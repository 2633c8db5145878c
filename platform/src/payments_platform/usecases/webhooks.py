"""Applying a gateway vendor's webhook: ``POST /external/<gateway>-webhook``.

The gateway verifies and decodes the notification (``parse_webhook``); then one transaction
finds the payment by its gateway and external id, judges the reported status against the
lifecycle, applies it or not, and records the webhook either way with the SHA-256 of its body.
A repeat of what is known changes nothing, not even the payment's row; a contradiction of a
final state is refused and still recorded.

A webhook naming an external id that no payment has yet is matched by the reference it carries
(our payment id, which the vendor holds the payment under), when it carries one and one of its
gateways holds that payment by our books: the vendor's answer to the initiate was lost, or came
after the platform gave up. Otherwise (the vendor's notification overtook its own answer) it is
recorded as unmatched and answered "not found"; once a payment learns that external id,
:func:`replay_early_webhooks` applies the waiting ones in arrival order.

The vendor's books are the truth about money: a report that the vendor took the money of a
payment the platform gave up on by its own judgement moves it to ``paid`` (a ``recovered``
event, a notification, a metric and an error log for the operator). One that names a payment
another gateway holds is recorded on that payment for the operator, never dropped.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from payments_plugins import InvalidWebhook, WebhookEvent

from payments_platform import errors
from payments_platform.database import after_commit
from payments_platform.lifecycle import (
    PaymentStatus,
    WebhookVerdict,
    as_reported_for,
    given_up_by_platform,
    judge_webhook,
    payment_status_reported,
)
from payments_platform.records import Payment
from payments_platform.store import attempts, events, payments
from payments_platform.store.text import unstorable_id
from payments_platform.telemetry import PAYMENTS_RECOVERED, WEBHOOKS_REFUSED
from payments_platform.usecases.dependencies import Dependencies, LiveGateway
from payments_platform.usecases.gateway_call import DeadlinePassed, within_deadline
from payments_platform.usecases.transitions import Recorded, StatusChange, change_status

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("payments_platform")

RECOVERED = "recovered"
"""The event kind of a vendor's report that it took the money of a payment the platform had
given up on: applied (``accepted``), or, when another gateway holds the payment, kept for the
operator (not accepted)."""


class WebhookOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The payment after a webhook, and whether the webhook changed it."""

    payment: Payment
    changed: bool


async def apply_webhook(
    deps: Dependencies, receivers: Sequence[LiveGateway], headers: Mapping[str, str], body: bytes
) -> WebhookOutcome:
    """Verify a vendor's notification and apply it to the payment it is about.

    ``receivers`` are the gateways the webhook may come from; the first that verifies it wins.
    Every webhook is recorded, accepted or not.
    """
    with tracer.start_as_current_span("payments.webhook") as span:
        body_hash = hashlib.sha256(body).hexdigest()
        try:
            event, live, rejection = await _verify(receivers, headers, body)
        except _NotVerified as failure:
            await _refuse(deps, receivers, body_hash, failure.reason)
            _count_refusal(receivers, errors.WebhookNotVerified.code)
            raise errors.WebhookNotVerified(failure.reason, retry_after=5) from None
        if event is not None and (why := unstorable_id(event.external_id)):
            event, rejection = None, f"the external id {why}"
        if event is None or live is None:
            await _refuse(deps, receivers, body_hash, rejection)
            _count_refusal(receivers, errors.WebhookRejected.code)
            raise errors.WebhookRejected(rejection)
        span.set_attribute("gateway.name", live.name)
        span.set_attribute("webhook.status", event.status)
        outcome = await deps.database.write(
            functools.partial(
                apply_event,
                deps=deps,
                names=[receiver.name for receiver in receivers],
                event=event,
                live=live,
                body_hash=body_hash,
                now=deps.now(),
            )
        )
        if isinstance(outcome, errors.PaymentProblem):
            WEBHOOKS_REFUSED.labels(live.name, outcome.code).inc()
            raise outcome
        span.set_attribute("payment.id", str(outcome.payment.id))
        return outcome


class _NotVerified(Exception):
    """The gateway could not say whether the webhook is genuine: its plugin ran out of time or
    failed. The vendor is asked to send it again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _verify(
    receivers: Sequence[LiveGateway], headers: Mapping[str, str], body: bytes
) -> tuple[WebhookEvent | None, LiveGateway | None, str]:
    if not receivers:
        return None, None, "no enabled gateway receives this webhook"
    reasons: list[str] = []
    for live in receivers:
        try:
            event = await within_deadline(
                live.gateway.parse_webhook(headers, body),
                seconds=live.deadline_seconds,
                gateway_name=live.name,
                operation="parse_webhook",
            )
        except InvalidWebhook as error:
            reasons.append(f"{live.name}: {error}" if len(receivers) > 1 else str(error))
            continue
        except DeadlinePassed as error:
            logger.warning("%s; the vendor is asked to send the webhook again", error)
            raise _NotVerified(str(error)) from error
        except Exception as error:
            logger.exception(
                "gateway %s could not verify a webhook; the vendor is asked to send it again",
                live.name,
            )
            raise _NotVerified(f"{live.name} could not verify the webhook: {error}") from error
        return event, live, ""
    return None, None, "; ".join(reasons)


async def _refuse(
    deps: Dependencies, receivers: Sequence[LiveGateway], body_hash: str, reason: str
) -> None:
    """Record a webhook that changes nothing because it could not be verified or read."""
    await deps.database.write(
        functools.partial(
            record_refused,
            receivers=receivers,
            body_hash=body_hash,
            reason=reason,
            now=deps.now(),
        )
    )


def _count_refusal(receivers: Sequence[LiveGateway], code: str) -> None:
    """Count a refusal by the gateway the webhook was posted for (its type when the route
    names a type several gateways share)."""
    if len(receivers) == 1:
        label = receivers[0].name
    else:
        label = receivers[0].type_name if receivers else "none"
    WEBHOOKS_REFUSED.labels(label, code).inc()


def apply_event(
    conn: sa.Connection,
    *,
    deps: Dependencies,
    names: Sequence[str],
    event: WebhookEvent,
    live: LiveGateway,
    body_hash: str,
    now: datetime,
) -> WebhookOutcome | errors.PaymentProblem:
    """Apply a verified notification to its payment, or keep it for when one is known.

    A refusal is returned, not raised: raising would roll back the record of it.
    """
    detail = msgspec.to_builtins(event)
    payment = payments.find_by_external_id(conn, names, event.external_id, for_update=True)
    held_by = None
    if payment is None and event.reference is not None:
        named = _named_by_reference(conn, names, event)
        if named is not None and named.held_by is None:
            return _held_elsewhere(conn, deps, named.payment, event, live, body_hash, now)
        if named is not None:
            payment, held_by = named
    if payment is None:
        events.record(
            conn,
            payment_id=None,
            kind="webhook",
            gateway=live.name,
            external_id=event.external_id,
            accepted=False,
            reason=f"no payment with external id {event.external_id!r} yet",
            body_sha256=body_hash,
            detail=detail,
            now=now,
        )
        return errors.PaymentNotFound(
            f"no payment known to {live.type_name} as {event.external_id!r}", field="external_id"
        )
    reported = payment_status_reported(event.status)
    verdict, reason, current = take_report(
        conn,
        deps,
        payment,
        reported,
        kind="webhook",
        gateway=live.name,
        reasons={
            WebhookVerdict.APPLY: f"{live.name} reports {event.status}",
            WebhookVerdict.RECOVER: (
                f"{live.name} reports {event.status} after the platform had given the payment"
                f" up ({payment.status}, {payment.failure_code}): the vendor took the money"
            ),
            WebhookVerdict.REPEAT: f"{live.name} repeats {event.status}; nothing changes",
            WebhookVerdict.CONTRADICTS: (
                f"{live.name} reports {event.status}, which the lifecycle forbids"
                f" after {payment.status}"
            ),
        },
        body_sha256=body_hash,
        detail=detail,
        now=now,
        learned=None if held_by is None else (held_by, event.external_id),
    )
    if verdict is WebhookVerdict.CONTRADICTS:
        return errors.TransitionNotAllowed(reason, extra={"payment_status": payment.status})
    if held_by is not None and verdict is not WebhookVerdict.REPEAT:
        current = replay_early_webhooks(conn, deps, current)
    return WebhookOutcome(payment=current, changed=verdict in _CHANGES)


_CHANGES = frozenset({WebhookVerdict.APPLY, WebhookVerdict.RECOVER})


class _Named(NamedTuple):
    """The payment a notification's reference names, and which of the notifying gateways holds
    it by our books (None: none of them does)."""

    payment: Payment
    held_by: str | None


def _named_by_reference(
    conn: sa.Connection, names: Sequence[str], event: WebhookEvent
) -> _Named | None:
    """The payment the vendor holds under ``event.reference``, locked; None when the
    notification is to wait as unmatched (the payment's answer may still be on its way), or
    says nothing about money of a payment the vendor does not hold."""
    reference = event.reference
    payment = None if reference is None else payments.get(conn, reference, for_update=True)
    if payment is None:
        return None
    if payment.gateway in names:
        # Known by another external id at the same vendor: not this notification's payment.
        return None if payment.external_id is not None else _Named(payment, payment.gateway)
    in_flight = attempts.in_flight(conn, payment.id)
    if in_flight is not None and in_flight.gateway in names:
        return None  # the notification overtook the answer: replayed when it comes
    tried = [a.gateway for a in attempts.of_payment(conn, payment.id) if a.gateway in names]
    if (
        payment.gateway is None
        and tried
        and given_up_by_platform(payment.status, payment.failure_code)
    ):
        return _Named(payment, tried[-1])
    paid = payment_status_reported(event.status) is PaymentStatus.PAID
    return _Named(payment, None) if paid else None


def _held_elsewhere(
    conn: sa.Connection,
    deps: Dependencies,
    payment: Payment,
    event: WebhookEvent,
    live: LiveGateway,
    body_hash: str,
    now: datetime,
) -> WebhookOutcome:
    """Keep a vendor's word that it took the money of a payment another gateway holds (or none
    does) by our books: the payer may have paid twice. Nothing about the payment changes; the
    operator must settle it with the vendor."""
    holder = payment.gateway or "no gateway"
    reason = (
        f"{live.name} reports the payment paid under its reference as {event.external_id!r},"
        f" but by the platform's books {holder} holds it ({payment.status}): the payer may have"
        f" paid at {live.name} too; refund it there"
    )
    events.record(
        conn,
        payment_id=payment.id,
        kind=RECOVERED,
        from_status=payment.status,
        gateway=live.name,
        external_id=event.external_id,
        accepted=False,
        reason=reason,
        body_sha256=body_hash,
        detail=msgspec.to_builtins(event),
        now=now,
    )
    _report_recovery(conn, payment, live.name, reason, held=False)
    return WebhookOutcome(payment=payment, changed=False)


def _report_recovery(
    conn: sa.Connection, payment: Payment, gateway: str, reason: str, *, held: bool
) -> None:
    """Count and log, once committed, money a vendor took after the platform gave up."""
    labels = (gateway, str(payment.status), "held" if held else "elsewhere")

    def report() -> None:
        PAYMENTS_RECOVERED.labels(*labels).inc()
        logger.error("payment %s: %s", payment.id, reason)

    after_commit(conn, report)


def take_report(
    conn: sa.Connection,
    deps: Dependencies,
    payment: Payment,
    reported: PaymentStatus | None,
    *,
    kind: str,
    gateway: str | None,
    reasons: Mapping[WebhookVerdict, str],
    body_sha256: str | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
    learned: tuple[str, str] | None = None,
) -> tuple[WebhookVerdict, str, Payment]:
    """Judge what a vendor reported of the payment (locked by the caller), apply it when the
    lifecycle allows, and record it either way; returns the verdict, its reason and the payment
    as it stands.

    ``learned`` is the gateway and external id the report taught the payment (it named the
    payment by its reference), stored with the change. A repeat of what is known writes nothing
    to the payment.
    """
    reported = as_reported_for(payment.status, reported, manual=payment.manual)
    verdict = judge_webhook(payment.status, reported, payment.failure_code)
    reason = reasons[verdict]
    held_by, external_id = learned or (None, None)
    if verdict in _CHANGES and reported is not None:
        current = change_status(
            conn,
            deps,
            payment.id,
            StatusChange(
                status=reported,
                reason=reason,
                expected=(payment.status,),
                gateway=held_by,
                external_id=external_id,
            ),
            recorded=Recorded(
                kind=kind,
                gateway=gateway,
                external_id=external_id or payment.external_id,
                body_sha256=body_sha256,
                detail=detail,
            ),
        ).payment
    else:
        current = payment
        events.record(
            conn,
            payment_id=payment.id,
            kind=kind,
            from_status=payment.status,
            gateway=gateway,
            external_id=payment.external_id,
            accepted=verdict is not WebhookVerdict.CONTRADICTS,
            reason=reason,
            body_sha256=body_sha256,
            detail=detail,
            now=now,
        )
    if verdict is WebhookVerdict.RECOVER:
        events.record(
            conn,
            payment_id=payment.id,
            kind=RECOVERED,
            from_status=payment.status,
            to_status=current.status,
            gateway=current.gateway,
            external_id=current.external_id,
            accepted=True,
            reason=reason,
            detail={"failure_code": payment.failure_code, "reported_by": kind},
            now=now,
        )
        _report_recovery(conn, payment, current.gateway or gateway or "none", reason, held=True)
    return verdict, reason, current


def record_refused(
    conn: sa.Connection,
    *,
    receivers: Sequence[LiveGateway],
    body_hash: str,
    reason: str,
    now: datetime,
) -> None:
    """Record a webhook that could not be verified or read; it changes nothing."""
    events.record(
        conn,
        payment_id=None,
        kind="webhook",
        gateway=receivers[0].name if len(receivers) == 1 else None,
        accepted=False,
        reason=reason,
        body_sha256=body_hash,
        now=now,
    )


def replay_early_webhooks(conn: sa.Connection, deps: Dependencies, payment: Payment) -> Payment:
    """Apply webhooks about the payment's external id that arrived before it was known by it.

    Called in the transaction that records the external id; returns the payment as it stands
    after them.
    """
    if payment.gateway is None or payment.external_id is None:
        return payment
    live = deps.gateways.get(payment.gateway)
    siblings = (
        [g.name for g in deps.gateways_of_type(live.type_name)] if live else [payment.gateway]
    )
    waiting = events.unmatched_webhooks(conn, siblings, payment.external_id)
    for early in waiting:
        reported = payment_status_reported((early.detail or {}).get("status", ""))
        if reported is None:
            continue
        # The payment's row is this transaction's: it just recorded the external id.
        _, _, payment = take_report(
            conn,
            deps,
            payment,
            reported,
            kind="webhook_replayed",
            gateway=early.gateway,
            reasons={
                verdict: f"webhook event {early.id} ({reported}) applied late: {verdict}"
                for verdict in WebhookVerdict
            },
            body_sha256=early.body_sha256,
            now=deps.now(),
        )
    return payment
