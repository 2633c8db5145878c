"""Telling merchants what happened: an event for every status a payment or a refund reaches.

``payment_changed`` and ``refund_changed`` run in the transaction of the change itself: they
write the event, with the resource as it stands after the change and the payment's next
sequence number, one delivery per endpoint that wants it, and a ``notify`` job per delivery.
Nothing is written when no endpoint wants the event. ``deliver`` is what a notification worker
does with such a job: post it once, record how it went, and retry with backoff until it is
delivered or has been retried for long enough, then leave it dead (re-deliverable).
"""

from __future__ import annotations

import functools
import random
import time
from datetime import datetime

import msgspec
import sqlalchemy as sa

from payments_platform import jobs
from payments_platform.jobs import Job, JobKind, RetryLater
from payments_platform.lifecycle import DeliveryStatus
from payments_platform.notifications.delivery import post_notification
from payments_platform.notifications.events import capture_event, payment_event, refund_event
from payments_platform.records import Capture, Notification, Payment, Refund
from payments_platform.resources import CaptureView, PaymentView, RefundView
from payments_platform.store import notifications
from payments_platform.telemetry import current_trace_parent
from payments_platform.usecases.dependencies import Dependencies

# Jitter only spreads retries out; it needs no cryptographic strength.
_rng = random.Random()  # noqa: S311


def payment_changed(conn: sa.Connection, deps: Dependencies, payment: Payment) -> None:
    """Notify the merchant that its payment is now as ``payment`` stands."""
    event_type = payment_event(payment.status)
    if event_type is not None:
        _write(conn, deps, payment, event_type)


def refund_changed(
    conn: sa.Connection, deps: Dependencies, refund: Refund, payment: Payment
) -> None:
    """Notify the merchant that a refund of its payment is now as ``refund`` stands (and the
    payment as ``payment`` does)."""
    event_type = refund_event(refund.status)
    if event_type is not None:
        _write(conn, deps, payment, event_type, refund)


def capture_changed(
    conn: sa.Connection, deps: Dependencies, capture: Capture, payment: Payment
) -> None:
    """Notify the merchant that a capture of its payment is now as ``capture`` stands (and
    the payment as ``payment`` does)."""
    event_type = capture_event(capture.status)
    if event_type is not None:
        _write(conn, deps, payment, event_type, capture=capture)


def _write(
    conn: sa.Connection,
    deps: Dependencies,
    payment: Payment,
    event_type: str,
    refund: Refund | None = None,
    *,
    capture: Capture | None = None,
) -> None:
    endpoints = deps.notifier.wanting(payment.merchant, event_type)
    if not endpoints:
        return
    now = deps.now()
    event = Notification(
        id=notifications.new_id(),
        payment_id=payment.id,
        merchant=payment.merchant,
        type=event_type,
        sequence=notifications.next_sequence(conn, payment.id),
        payload={},
        created_at=now,
    )
    data: dict[str, object] = {"payment": PaymentView.of(payment)}
    if refund is not None:
        data["refund"] = RefundView.of(refund, payment)
    if capture is not None:
        data["capture"] = CaptureView.of(capture, payment)
    payload = {
        "id": event.id,
        "type": event_type,
        "timestamp": now,
        "sequence": event.sequence,
        "data": data,
    }
    notifications.insert(conn, msgspec.structs.replace(event, payload=msgspec.to_builtins(payload)))
    for endpoint in endpoints:
        delivery_id = notifications.insert_delivery(
            conn, notification_id=event.id, endpoint=endpoint, now=now
        )
        jobs.enqueue(
            conn,
            JobKind.NOTIFY,
            payment.id,
            now=now,
            max_attempts=deps.notifier.max_attempts,
            delivery_id=delivery_id,
            trace_parent=current_trace_parent(),
        )


async def deliver(deps: Dependencies, job: Job) -> None:
    """Post the notification of a ``notify`` job to its endpoint, once."""
    if job.delivery_id is None:  # pragma: no cover - notify jobs always carry one
        raise ValueError(f"notify job {job.id} names no delivery")
    delivery_id = job.delivery_id
    found = await deps.database.read(
        lambda conn: notifications.get_delivery(conn, delivery_id), quick=True
    )
    if found is None or found[0].status is DeliveryStatus.DELIVERED:
        return
    # A dead delivery's job runs again only when someone revived it (``payments jobs retry``,
    # the console): then it is sent again, as a pending one is.
    delivery, event = found
    endpoint = deps.notifier.endpoints.get(delivery.endpoint)
    if endpoint is None:
        raise RetryLater(f"endpoint {delivery.endpoint!r} is not configured (or not enabled)")
    slot = deps.notifier.slot(delivery.endpoint)
    if slot.locked():
        # The endpoint has its fill of deliveries in flight: this one waits without holding
        # a worker, and without spending an attempt.
        raise RetryLater(f"{delivery.endpoint} is busy", retry_in=1.0, spend_attempt=False)
    settings = deps.notifier.settings
    async with slot:
        started = time.monotonic()
        result = await post_notification(
            deps.notifier.client,
            endpoint.url,
            secret=endpoint.secret,
            message_id=event.id,
            body=msgspec.json.encode(event.payload),
            time_limit=settings.timeout_seconds,
            allow_http=settings.allow_http,
            allow_private=settings.allow_private_addresses,
        )
        duration_ms = round((time.monotonic() - started) * 1000)
    if result.delivered:
        status = DeliveryStatus.DELIVERED
    elif job.is_last_attempt:
        status = DeliveryStatus.DEAD
    else:
        status = DeliveryStatus.PENDING
    await deps.database.write(
        functools.partial(
            notifications.record_attempt,
            delivery_id=delivery_id,
            status=status,
            now=deps.now(),
            status_code=result.status_code,
            error=result.error,
            duration_ms=duration_ms,
        )
    )
    if not result.delivered:
        raise RetryLater(
            f"{delivery.endpoint}: {result.error}",
            retry_in=deps.notifier.backoff(job.attempts, _rng),
        )


async def redeliver(
    deps: Dependencies,
    *,
    notification_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    endpoint: str | None = None,
) -> int:
    """Deliver again the dead deliveries of a notification, or of a period (and an endpoint),
    each with a fresh ``notify`` job (``payments notifications redeliver``); how many."""

    def revive(conn: sa.Connection) -> int:
        dead = notifications.dead_deliveries(
            conn, notification_id=notification_id, since=since, until=until, endpoint=endpoint
        )
        now = deps.now()
        notifications.reopen(conn, [delivery_id for delivery_id, _ in dead], now)
        for delivery_id, payment_id in dead:
            jobs.enqueue(
                conn,
                JobKind.NOTIFY,
                payment_id,
                now=now,
                max_attempts=deps.notifier.max_attempts,
                delivery_id=delivery_id,
            )
        return len(dead)

    return await deps.database.write(revive)


async def failing_endpoints(deps: Dependencies) -> list[dict[str, object]]:
    """Per endpoint, its deliveries that failed and are not delivered: how many are retrying
    and dead, and the latest failure (``payments notifications failing``)."""
    return await deps.database.read(notifications.dead_or_retrying)
