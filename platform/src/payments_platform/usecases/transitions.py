"""Every change of a payment's status goes through :func:`change_status`, whatever decided it:
a gateway's answer, a vendor's webhook or status report, reconciliation, expiry, a client's
retry, a refund.

:mod:`~payments_platform.lifecycle` decides the status; this module applies the decision in
its caller's transaction: a conditional update (only from the statuses the caller expects, as
the row stands, under the row's lock), the event that records it, the jobs the new status
calls for (an ``unknown`` payment is reconciled, an ``initiated`` one expires in due course)
and the notification of its merchant. The jobs and notifications are the outbox: written with
the change, so a crash cannot separate them. Once the transaction has committed, the change is
logged with its reason and counted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from payments_plugins import NextAction

from payments_platform import jobs
from payments_platform.database import after_commit
from payments_platform.jobs import JobKind
from payments_platform.lifecycle import PaymentStatus, knows_change
from payments_platform.records import Payment
from payments_platform.store import events, payments
from payments_platform.telemetry import PAYMENT_OUTCOMES, current_trace_parent
from payments_platform.usecases import notify
from payments_platform.usecases.dependencies import Dependencies

logger = logging.getLogger(__name__)

STATUS_CHANGED = "status_changed"
"""The kind of the event that records a change nothing else records."""


class Transition(NamedTuple):
    """The payment after a change was asked for, and whether it took place."""

    payment: Payment
    moved: bool


@dataclass(frozen=True, kw_only=True)
class StatusChange:
    """A decision about a payment's status, and what comes with it."""

    status: PaymentStatus
    reason: str
    expected: tuple[PaymentStatus, ...]
    """The statuses it may change from, in the order they are tried."""
    failure_code: str | None = None
    """Set with the status (None clears it)."""
    gateway: str | None = None
    """The gateway that holds the payment, when this change names it."""
    external_id: str | None = None
    """The gateway's id of the payment, when this change teaches it."""
    forget_gateway: bool = False
    """No vendor holds the payment any more (it is routed again)."""
    next_action: NextAction | None = None
    """The step the vendor asked of the payer, when this change teaches it."""
    refunded_minor: int = 0
    """What a refund adds to the payment's refunded amount."""
    captured_minor: int = 0
    """What a capture adds to the payment's captured amount."""
    authorized_minor: int | None = None
    """What the vendor said it authorized, when it said (else the whole amount)."""
    authorization_expires_at: datetime | None = None
    """When the vendor lets the authorization lapse, when this change teaches it."""


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """The event that records a change, when it is not a plain ``status_changed`` one: the
    webhook that reported it, the refund that made it."""

    kind: str = STATUS_CHANGED
    gateway: str | None = None
    external_id: str | None = None
    body_sha256: str | None = None
    detail: dict[str, Any] | None = None


def change_status(
    conn: sa.Connection,
    deps: Dependencies,
    payment_id: uuid.UUID,
    change: StatusChange,
    *,
    recorded: Recorded | None = None,
    cause_notified: Callable[[Payment], None] | None = None,
) -> Transition:
    """Apply ``change`` to the payment, record it, and schedule what follows; a payment in
    none of the statuses expected is left as it is (a ``status_changed`` event says why).

    ``cause_notified`` notifies what caused the change (a refund's outcome), given the payment
    as it now stands, before the payment's own notification: merchants get them in that order.

    Raises ``ValueError`` for a change the lifecycle does not have: a use case asked for a
    status :mod:`~payments_platform.lifecycle` never decides.
    """
    unknown = [was for was in change.expected if not knows_change(was, change.status)]
    if unknown:
        raise ValueError(f"the lifecycle has no change from {unknown} to {change.status}")
    now = deps.now()
    for from_status in change.expected:
        after = payments.change(
            conn,
            payment_id,
            expected=from_status,
            status=change.status,
            failure_code=change.failure_code,
            gateway=change.gateway,
            external_id=change.external_id,
            forget_gateway=change.forget_gateway,
            next_action=change.next_action,
            refunded_minor=change.refunded_minor,
            authorized_minor=change.authorized_minor,
            captured_minor=change.captured_minor,
            authorization_expires_at=change.authorization_expires_at,
            now=now,
        )
        if after is not None:
            break
    else:
        current = payments.load(conn, payment_id)
        events.record(
            conn,
            payment_id=payment_id,
            kind=STATUS_CHANGED,
            from_status=current.status,
            to_status=change.status,
            gateway=change.gateway,
            accepted=False,
            reason=f"{change.reason}; not applied: the payment is {current.status}",
            now=now,
        )
        return Transition(current, moved=False)
    noted = recorded or Recorded(gateway=change.gateway)
    events.record(
        conn,
        payment_id=payment_id,
        kind=noted.kind,
        from_status=from_status,
        to_status=change.status,
        gateway=noted.gateway,
        external_id=noted.external_id,
        accepted=True,
        reason=change.reason,
        body_sha256=noted.body_sha256,
        detail=noted.detail,
        now=now,
    )
    if cause_notified is not None:
        cause_notified(after)
    _follow_up(conn, deps, after, from_status, change.reason)
    return Transition(after, moved=True)


def schedule(
    conn: sa.Connection,
    deps: Dependencies,
    kind: JobKind,
    payment_id: uuid.UUID,
    *,
    delay: float = 0.0,
    refund_id: uuid.UUID | None = None,
    capture_id: uuid.UUID | None = None,
) -> int:
    """Write a job due ``delay`` seconds from now, in the caller's transaction."""
    return jobs.enqueue(
        conn,
        kind,
        payment_id,
        now=deps.now(),
        max_attempts=deps.job_attempts,
        delay=delay,
        refund_id=refund_id,
        capture_id=capture_id,
        trace_parent=current_trace_parent(),
    )


def _follow_up(
    conn: sa.Connection,
    deps: Dependencies,
    payment: Payment,
    from_status: PaymentStatus,
    reason: str,
) -> None:
    """What a change of ``payment`` (as it is now) from ``from_status`` calls for: its jobs and
    its merchant's notification (in the same transaction), its log line and metric (once the
    transaction commits)."""
    if payment.status is PaymentStatus.UNKNOWN:
        schedule(conn, deps, JobKind.RECONCILE, payment.id, delay=1.0)
    elif payment.status is PaymentStatus.CANCELLING:
        # The cancel's own guard: should its answer never be recorded (the process died),
        # this job asks the vendor once the call is surely over.
        schedule(
            conn,
            deps,
            JobKind.RECONCILE,
            payment.id,
            delay=deps.lifecycle.reconcile_after_seconds,
        )
    elif payment.status is PaymentStatus.INITIATED:
        schedule(
            conn,
            deps,
            JobKind.EXPIRE,
            payment.id,
            delay=deps.lifecycle.expire_after_seconds,
        )
    elif payment.status is PaymentStatus.AUTHORIZED and from_status is not PaymentStatus.CANCELLING:
        # The authorization lapses when its vendor says: the worker asks the vendor then (or
        # now, when the change did not say when: the vendor's answer names the time).
        expires_at = payment.authorization_expires_at
        lapses_in = 0.0 if expires_at is None else (expires_at - deps.now()).total_seconds()
        schedule(conn, deps, JobKind.EXPIRE, payment.id, delay=max(lapses_in, 0.0))
    notify.payment_changed(conn, deps, payment)
    labels = (payment.gateway or "none", payment.currency, payment.status)

    def report() -> None:
        PAYMENT_OUTCOMES.labels(*labels).inc()
        logger.info("payment %s: %s -> %s (%s)", payment.id, from_status, payment.status, reason)

    after_commit(conn, report)
