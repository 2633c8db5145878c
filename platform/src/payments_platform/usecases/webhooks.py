"""Applying a gateway vendor's webhook: ``POST /external/<gateway>-webhook``.

The gateway verifies and decodes the notification (``parse_webhook``); then one transaction
finds the payment by its gateway and external id, judges the reported status against the
lifecycle, applies it or not, and records the webhook either way with the SHA-256 of its body.
A repeat of what is known changes nothing, not even the payment's row; a contradiction of a
final state is refused and still recorded.

A webhook naming an external id that no payment has yet (the vendor's notification overtook its
own answer to the initiate) is recorded as unmatched and answered "not found"; once a payment
learns that external id, :func:`replay_early_webhooks` applies the waiting ones in arrival order.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from opentelemetry import trace
from payments_plugins import InvalidWebhook, WebhookEvent

from payments_platform import errors
from payments_platform.lifecycle import (
    PaymentStatus,
    WebhookVerdict,
    judge_webhook,
    payment_status_reported,
)
from payments_platform.records import Payment
from payments_platform.store import events, payments
from payments_platform.store.text import unstorable_id
from payments_platform.usecases.context import LiveGateway, Platform
from payments_platform.usecases.transitions import record_change

tracer = trace.get_tracer("payments_platform")


class WebhookOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The payment after a webhook, and whether the webhook changed it."""

    payment: Payment
    changed: bool


async def apply_webhook(
    platform: Platform, receivers: Sequence[LiveGateway], headers: Mapping[str, str], body: bytes
) -> WebhookOutcome:
    """Verify a vendor's notification and apply it to the payment it is about.

    ``receivers`` are the gateways the webhook may come from; the first that verifies it wins.
    Every webhook is recorded, accepted or not.
    """
    with tracer.start_as_current_span("payments.webhook") as span:
        body_hash = hashlib.sha256(body).hexdigest()
        event, live, rejection = await _verify(receivers, headers, body)
        if event is not None and (why := unstorable_id(event.external_id)):
            event, rejection = None, f"the external id {why}"
        if event is None or live is None:
            await platform.database.write(
                functools.partial(
                    record_refused,
                    receivers=receivers,
                    body_hash=body_hash,
                    reason=rejection,
                    now=platform.now(),
                )
            )
            raise errors.WebhookRejected(rejection)
        span.set_attribute("gateway.name", live.name)
        span.set_attribute("webhook.status", event.status)
        outcome = await platform.database.write(
            functools.partial(
                apply_event,
                platform=platform,
                names=[receiver.name for receiver in receivers],
                event=event,
                live=live,
                body_hash=body_hash,
                now=platform.now(),
            )
        )
        if isinstance(outcome, errors.PaymentProblem):
            raise outcome
        span.set_attribute("payment.id", str(outcome.payment.id))
        return outcome


async def _verify(
    receivers: Sequence[LiveGateway], headers: Mapping[str, str], body: bytes
) -> tuple[WebhookEvent | None, LiveGateway | None, str]:
    if not receivers:
        return None, None, "no enabled gateway receives this webhook"
    reasons: list[str] = []
    for live in receivers:
        try:
            return await live.gateway.parse_webhook(headers, body), live, ""
        except InvalidWebhook as error:
            reasons.append(f"{live.name}: {error}" if len(receivers) > 1 else str(error))
    return None, None, "; ".join(reasons)


def apply_event(
    conn: sa.Connection,
    *,
    platform: Platform,
    names: Sequence[str],
    event: WebhookEvent,
    live: LiveGateway,
    body_hash: str,
    now: datetime,
) -> WebhookOutcome | errors.PaymentProblem:
    """Apply a verified notification to its payment, or keep it for when one is known.

    A refusal is returned, not raised: raising would roll back the record of it.
    """
    payment = payments.find_by_external_id(conn, names, event.external_id, for_update=True)
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
            detail=msgspec.to_builtins(event),
            now=now,
        )
        return errors.PaymentNotFound(
            f"no payment known to {live.type_name} as {event.external_id!r}", field="external_id"
        )
    verdict, reason, current = take_report(
        conn,
        platform,
        payment,
        payment_status_reported(event.status),
        kind="webhook",
        gateway=live.name,
        reasons={
            WebhookVerdict.APPLY: f"{live.name} reports {event.status}",
            WebhookVerdict.REPEAT: f"{live.name} repeats {event.status}; nothing changes",
            WebhookVerdict.CONTRADICTS: (
                f"{live.name} reports {event.status}, which the lifecycle forbids"
                f" after {payment.status}"
            ),
        },
        body_sha256=body_hash,
        detail=msgspec.to_builtins(event),
        now=now,
    )
    if verdict is WebhookVerdict.CONTRADICTS:
        return errors.TransitionNotAllowed(reason, extra={"payment_status": payment.status})
    return WebhookOutcome(payment=current, changed=verdict is WebhookVerdict.APPLY)


def take_report(
    conn: sa.Connection,
    platform: Platform,
    payment: Payment,
    reported: PaymentStatus | None,
    *,
    kind: str,
    gateway: str | None,
    reasons: Mapping[WebhookVerdict, str],
    body_sha256: str | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> tuple[WebhookVerdict, str, Payment]:
    """Judge what a vendor reported of the payment (locked by the caller), apply it when the
    lifecycle allows, and record it either way; returns the verdict, its reason and the payment
    as it stands.

    A repeat of what is known writes nothing to the payment.
    """
    verdict = judge_webhook(payment.status, reported)
    applied = reported if verdict is WebhookVerdict.APPLY else None
    reason = reasons[verdict]
    current = payment
    if applied is not None:
        moved = payments.move(conn, payment.id, expected=payment.status, status=applied, now=now)
        if moved is None:  # pragma: no cover - the caller holds the row
            raise RuntimeError(f"payment {payment.id} moved under its lock")
        record_change(conn, platform, moved, payment.status, reason)
        current = moved
    events.record(
        conn,
        payment_id=payment.id,
        kind=kind,
        from_status=payment.status,
        to_status=applied,
        gateway=gateway,
        external_id=payment.external_id,
        accepted=verdict is not WebhookVerdict.CONTRADICTS,
        reason=reason,
        body_sha256=body_sha256,
        detail=detail,
        now=now,
    )
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


def replay_early_webhooks(conn: sa.Connection, platform: Platform, payment: Payment) -> Payment:
    """Apply webhooks about the payment's external id that arrived before it was known by it.

    Called in the transaction that records the external id; returns the payment as it stands
    after them.
    """
    if payment.gateway is None or payment.external_id is None:
        return payment
    live = platform.gateways.get(payment.gateway)
    siblings = (
        [g.name for g in platform.gateways_of_type(live.type_name)] if live else [payment.gateway]
    )
    waiting = events.unmatched_webhooks(conn, siblings, payment.external_id)
    for early in waiting:
        reported = payment_status_reported((early.detail or {}).get("status", ""))
        if reported is None:
            continue
        # The payment's row is this transaction's: it just recorded the external id.
        _, _, payment = take_report(
            conn,
            platform,
            payment,
            reported,
            kind="webhook_replayed",
            gateway=early.gateway,
            reasons={
                verdict: f"webhook event {early.id} ({reported}) applied late: {verdict}"
                for verdict in WebhookVerdict
            },
            body_sha256=early.body_sha256,
            now=platform.now(),
        )
    return payment
