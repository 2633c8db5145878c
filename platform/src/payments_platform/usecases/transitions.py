"""Moving a payment's status, and scheduling what follows from it.

A status change is made in its caller's transaction with a conditional update (only from the
statuses the caller expects), the event that records it, the jobs the new status calls for (an
``unknown`` payment is reconciled, an ``initiated`` one expires in due course) and the
notification of its merchant. The jobs and notifications are the outbox: written with the
change, so a crash cannot separate them. Once the transaction has committed, the change is
logged with its reason and counted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa

from payments_platform import jobs
from payments_platform.database import after_commit
from payments_platform.jobs import JobKind
from payments_platform.lifecycle import PaymentStatus
from payments_platform.records import Payment
from payments_platform.store import events, payments
from payments_platform.telemetry import PAYMENT_OUTCOMES, current_trace_parent
from payments_platform.usecases import notify
from payments_platform.usecases.context import Platform

logger = logging.getLogger(__name__)


class Transition(NamedTuple):
    """The payment after a transition was asked for, and whether it took place."""

    payment: Payment
    moved: bool


def schedule(
    conn: sa.Connection,
    platform: Platform,
    kind: JobKind,
    payment_id: uuid.UUID,
    *,
    delay: float = 0.0,
    refund_id: uuid.UUID | None = None,
) -> int:
    """Write a job due ``delay`` seconds from now, in the caller's transaction."""
    return jobs.enqueue(
        conn,
        kind,
        payment_id,
        now=platform.now(),
        max_attempts=platform.job_attempts,
        delay=delay,
        refund_id=refund_id,
        trace_parent=current_trace_parent(),
    )


def transition(
    conn: sa.Connection,
    platform: Platform,
    payment_id: uuid.UUID,
    status: PaymentStatus,
    *,
    reason: str,
    expected: Sequence[PaymentStatus],
    failure_code: str | None = None,
    gateway: str | None = None,
    external_id: str | None = None,
) -> Transition:
    """Move the payment from one of ``expected`` to ``status``, record it, and schedule what
    follows; a payment in another status is left as it is (the event says why).

    The move is one conditional update per status expected, in order: the database checks the
    payment's status as the row stands, under the row's lock, whatever the caller read before.
    """
    now = platform.now()
    for from_status in expected:
        after = payments.settle(
            conn,
            payment_id,
            expected=from_status,
            status=status,
            failure_code=failure_code,
            gateway=gateway,
            external_id=external_id,
            now=now,
        )
        if after is not None:
            break
    else:
        current = payments.load(conn, payment_id)
        events.record(
            conn,
            payment_id=payment_id,
            kind="status_changed",
            from_status=current.status,
            to_status=status,
            gateway=gateway,
            accepted=False,
            reason=f"{reason}; not applied: the payment is {current.status}",
            now=now,
        )
        return Transition(current, moved=False)
    events.record(
        conn,
        payment_id=payment_id,
        kind="status_changed",
        from_status=from_status,
        to_status=status,
        gateway=gateway,
        accepted=True,
        reason=reason,
        now=now,
    )
    record_change(conn, platform, after, from_status, reason)
    if status is PaymentStatus.UNKNOWN:
        schedule(conn, platform, JobKind.RECONCILE, payment_id, delay=1.0)
    elif status is PaymentStatus.INITIATED:
        schedule(
            conn,
            platform,
            JobKind.EXPIRE,
            payment_id,
            delay=platform.lifecycle.expire_after_seconds,
        )
    return Transition(after, moved=True)


def record_change(
    conn: sa.Connection,
    platform: Platform,
    payment: Payment,
    from_status: PaymentStatus,
    reason: str,
) -> None:
    """Follow up a change of ``payment`` (as it is now) from ``from_status``, made in this
    transaction: notify its merchant (in the same transaction), and log and count it once the
    transaction commits."""
    notify.payment_changed(conn, platform, payment)
    labels = (payment.gateway or "none", payment.currency, payment.status)

    def report() -> None:
        PAYMENT_OUTCOMES.labels(*labels).inc()
        logger.info("payment %s: %s -> %s (%s)", payment.id, from_status, payment.status, reason)

    after_commit(conn, report)
