"""The ``notifications`` and ``notification_deliveries`` tables: an event per status a payment
or refund reached, and its delivery to each endpoint that wants it."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa

from payments_platform.lifecycle import DeliveryStatus
from payments_platform.records import Delivery, Notification, NotificationSent
from payments_platform.schema import UNDELIVERED, notification_deliveries, notifications
from payments_platform.store.sql import Reader, Sql, rows

EVENT_READER = Reader(Notification, notifications, alias="n")
DELIVERY_READER = Reader(Delivery, notification_deliveries, alias="d")
_EVENT_WIDTH = len(EVENT_READER.names)
_OF_PAYMENT = Sql(
    "SELECT {events}, {deliveries} FROM notifications n"
    " LEFT JOIN notification_deliveries d ON d.notification_id = n.id"
    " WHERE n.payment_id = :payment_id ORDER BY n.sequence, d.id",
    events=EVENT_READER.columns,
    deliveries=DELIVERY_READER.columns,
)


def new_id() -> str:
    """A fresh event id, ``evt_<32 hex digits>``."""
    return f"evt_{uuid.uuid4().hex}"


def next_sequence(conn: sa.Connection, payment_id: uuid.UUID) -> int:
    """The payment's next notification number (the caller holds the payment's row)."""
    last = conn.scalar(
        sa.select(sa.func.max(notifications.c.sequence)).where(
            notifications.c.payment_id == payment_id
        )
    )
    return int(last or 0) + 1


def insert(conn: sa.Connection, notification: Notification) -> None:
    """Write an event."""
    conn.execute(sa.insert(notifications).values(msgspec.structs.asdict(notification)))


def insert_delivery(
    conn: sa.Connection, *, notification_id: str, endpoint: str, now: datetime
) -> int:
    """Write a pending delivery; return its id."""
    return int(
        conn.execute(
            sa.insert(notification_deliveries)
            .values(
                notification_id=notification_id,
                endpoint=endpoint,
                status=DeliveryStatus.PENDING,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .returning(notification_deliveries.c.id)
        ).scalar_one()
    )


def get_delivery(conn: sa.Connection, delivery_id: int) -> tuple[Delivery, Notification] | None:
    """A delivery with its event."""
    row = conn.execute(
        sa.select(notification_deliveries).where(notification_deliveries.c.id == delivery_id)
    ).one_or_none()
    if row is None:
        return None
    delivery = DELIVERY_READER.read_row(row)
    event = conn.execute(
        sa.select(notifications).where(notifications.c.id == delivery.notification_id)
    ).one()
    return delivery, EVENT_READER.read_row(event)


def record_attempt(
    conn: sa.Connection,
    delivery_id: int,
    *,
    status: DeliveryStatus,
    now: datetime,
    status_code: int | None,
    error: str | None,
    duration_ms: int | None = None,
) -> None:
    """Record how one attempt of a delivery went, and how long it took."""
    conn.execute(
        sa.update(notification_deliveries)
        .where(notification_deliveries.c.id == delivery_id)
        .values(
            status=status,
            attempts=notification_deliveries.c.attempts + 1,
            last_status_code=status_code,
            last_error=error,
            last_duration_ms=duration_ms,
            delivered_at=now if status is DeliveryStatus.DELIVERED else None,
            updated_at=now,
        )
    )


def reopen(conn: sa.Connection, delivery_ids: Collection[int], now: datetime) -> None:
    """Make dead deliveries pending again, to be delivered anew."""
    if delivery_ids:
        conn.execute(
            sa.update(notification_deliveries)
            .where(notification_deliveries.c.id.in_(list(delivery_ids)))
            .values(status=DeliveryStatus.PENDING, updated_at=now)
        )


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[NotificationSent]:
    """The payment's events, in order, each with its deliveries."""
    sent: list[NotificationSent] = []
    for row in rows(conn, _OF_PAYMENT, payment_id=payment_id):
        event = EVENT_READER.read(conn, row[:_EVENT_WIDTH])
        if not sent or sent[-1].notification.id != event.id:
            sent.append(NotificationSent(notification=event, deliveries=[]))
        if row[_EVENT_WIDTH] is not None:
            sent[-1].deliveries.append(DELIVERY_READER.read(conn, row[_EVENT_WIDTH:]))
    return sent


def dead_or_retrying(
    conn: sa.Connection, endpoints: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Per endpoint: deliveries that failed at least once and are not delivered, as counts
    of pending (retrying) and dead ones, with the latest error. Read from
    ``ix_notification_deliveries_undelivered``: the deliveries not delivered, however many
    were."""
    rows = conn.execute(
        sa.select(
            notification_deliveries.c.endpoint,
            notification_deliveries.c.status,
            sa.func.count(),
            sa.func.max(notification_deliveries.c.updated_at),
        )
        .where(
            UNDELIVERED,
            notification_deliveries.c.attempts > 0,
            *(
                [notification_deliveries.c.endpoint.in_(list(endpoints))]
                if endpoints is not None
                else []
            ),
        )
        .group_by(notification_deliveries.c.endpoint, notification_deliveries.c.status)
    ).all()
    failing: dict[str, dict[str, Any]] = {}
    latest_status: dict[str, str] = {}
    for endpoint, status, count, last in rows:
        entry = failing.setdefault(endpoint, {"endpoint": endpoint, "retrying": 0, "dead": 0})
        entry["retrying" if status == DeliveryStatus.PENDING else "dead"] += count
        if last >= entry.get("last_failure_at", last):
            entry["last_failure_at"] = last
            latest_status[endpoint] = status
    for endpoint, entry in failing.items():
        # Of the status its latest failure has: one step down the index, whatever the backend.
        entry["last_error"] = conn.scalar(
            sa.select(notification_deliveries.c.last_error)
            .where(
                notification_deliveries.c.endpoint == endpoint,
                notification_deliveries.c.status == latest_status[endpoint],
                UNDELIVERED,
                notification_deliveries.c.attempts > 0,
            )
            .order_by(notification_deliveries.c.updated_at.desc())
            .limit(1)
        )
    return sorted(failing.values(), key=lambda entry: entry["endpoint"])


def dead_deliveries(
    conn: sa.Connection,
    *,
    notification_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    endpoint: str | None = None,
) -> list[tuple[int, uuid.UUID]]:
    """Dead deliveries, with their payment, of one event or of the events of a time range."""
    query = (
        sa.select(notification_deliveries.c.id, notifications.c.payment_id)
        .join(notifications, notifications.c.id == notification_deliveries.c.notification_id)
        .where(notification_deliveries.c.status == DeliveryStatus.DEAD)
    )
    if notification_id is not None:
        query = query.where(notifications.c.id == notification_id)
    if since is not None:
        query = query.where(notifications.c.created_at >= since)
    if until is not None:
        query = query.where(notifications.c.created_at < until)
    if endpoint is not None:
        query = query.where(notification_deliveries.c.endpoint == endpoint)
    return [
        (int(row[0]), row[1]) for row in conn.execute(query.order_by(notification_deliveries.c.id))
    ]


class DeliveryListed(NamedTuple):
    """A delivery, with what a list of deliveries shows of its event."""

    delivery: Delivery
    event_type: str
    payment_id: uuid.UUID
    event_at: datetime


class DeliveryPage(NamedTuple):
    """Deliveries, the latest first, and the id the next page starts below (None: the last)."""

    deliveries: list[DeliveryListed]
    next: int | None


def list_deliveries(
    conn: sa.Connection,
    *,
    endpoints: Sequence[str] | None,
    statuses: Sequence[DeliveryStatus] | None = None,
    failed_only: bool = False,
    below: int | None = None,
    limit: int,
) -> DeliveryPage:
    """Deliveries to ``endpoints`` (None: to any), the latest first, with ids below ``below``;
    only in ``statuses`` when given, only those that failed at least once when
    ``failed_only``; at most ``limit`` of them.

    One endpoint's are read along ``ix_notification_deliveries_endpoint_id``, every
    endpoint's along the primary key; those of some statuses (few: not delivered) from an
    index of endpoint and status.
    """
    d, n = notification_deliveries.c, notifications.c
    query = sa.select(
        notification_deliveries, n.type, n.payment_id, n.created_at.label("event_at")
    ).join(notifications, n.id == d.notification_id)
    if endpoints is not None:
        query = query.where(d.endpoint.in_(list(endpoints)))
    if statuses is not None:
        query = query.where(d.status.in_(list(statuses)))
    if failed_only:
        query = query.where(d.attempts > 0)
    if below is not None:
        query = query.where(d.id < below)
    found = conn.execute(query.order_by(d.id.desc()).limit(limit + 1)).all()
    listed = [
        DeliveryListed(DELIVERY_READER.read_row(row), row.type, row.payment_id, row.event_at)
        for row in found[:limit]
    ]
    more = len(found) > limit
    return DeliveryPage(listed, listed[-1].delivery.id if more else None)


def latest_deliveries(conn: sa.Connection, endpoint: str, limit: int) -> list[Delivery]:
    """The endpoint's latest ``limit`` deliveries, the latest first."""
    found = conn.execute(
        sa.select(notification_deliveries)
        .where(notification_deliveries.c.endpoint == endpoint)
        .order_by(notification_deliveries.c.id.desc())
        .limit(limit)
    )
    return [DELIVERY_READER.read_row(row) for row in found]
