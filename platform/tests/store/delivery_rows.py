"""Deliveries as the store writes them, for tests of its statements."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from payments_platform import jobs, schema
from payments_platform.jobs import JobKind, JobStatus
from payments_platform.lifecycle import DeliveryStatus
from payments_platform.records import Notification
from payments_platform.store import notifications

from store.payment_rows import NOW

PENDING, DELIVERED, DEAD = DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.DEAD


def new_delivery(
    conn: sa.Connection,
    endpoint: str,
    status: DeliveryStatus,
    *,
    attempts: int = 1,
    minutes: int = 0,
    error: str | None = None,
    job: bool = False,
) -> int:
    """A delivery of a fresh event made ``minutes`` after NOW, attempted ``attempts`` times
    (a minute apart, answered 503 unless delivered, each taking ten times the delivery's id in
    milliseconds); with its ``notify`` job if ``job``, dead when the delivery is. Its id."""
    created = NOW + timedelta(minutes=minutes)
    event = Notification(
        id=notifications.new_id(),
        payment_id=uuid.uuid4(),
        merchant=None,
        type="payment.paid",
        sequence=1,
        payload={},
        created_at=created,
    )
    notifications.insert(conn, event)
    delivery_id = notifications.insert_delivery(
        conn, notification_id=event.id, endpoint=endpoint, now=created
    )
    for attempt in range(attempts):
        last = attempt == attempts - 1
        notifications.record_attempt(
            conn,
            delivery_id,
            status=status if last else PENDING,
            now=created + timedelta(minutes=1 + attempt),
            status_code=200 if status is DELIVERED else 503,
            error=None if status is DELIVERED else (error or f"answered 503 ({delivery_id})"),
            duration_ms=10 * delivery_id,
        )
    if job:
        job_id = jobs.enqueue(
            conn,
            JobKind.NOTIFY,
            event.payment_id,
            now=created,
            max_attempts=1,
            delivery_id=delivery_id,
        )
        if status is DEAD:
            bury(conn, job_id)
    return delivery_id


def bury(conn: sa.Connection, job_id: int) -> None:
    """Make the job dead, as its last failed attempt would."""
    conn.execute(
        sa.update(schema.jobs).where(schema.jobs.c.id == job_id).values(status=JobStatus.DEAD)
    )
