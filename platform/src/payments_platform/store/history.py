"""A payment with everything that happened to it, read in one transaction.

On PostgreSQL that is one statement: the payment's row, and its attempts, refunds, captures,
events and notifications (each with its deliveries) aggregated into JSON beside it, so a read
costs one round trip instead of six. SQLite reads in the process, where a statement costs no
round trip, and runs the per-table statements.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from payments_platform.records import (
    Attempt,
    Capture,
    Delivery,
    Event,
    Notification,
    NotificationSent,
    Payment,
    PaymentHistory,
    Refund,
)
from payments_platform.store import attempts, captures, events, notifications, payments, refunds
from payments_platform.store.sql import Sql, first


def find_for_client(
    conn: sa.Connection, merchant: str | None, client_id: uuid.UUID
) -> PaymentHistory | None:
    """The history of the payment ``merchant`` (None: the open API) calls ``client_id``."""
    if conn.dialect.name == "postgresql":
        if merchant is None:
            return _aggregated(conn, first(conn, _OF_OPEN_CLIENT, client_id=client_id))
        return _aggregated(conn, first(conn, _OF_CLIENT, client_id=client_id, merchant=merchant))
    payment = payments.find_for_client(conn, merchant, client_id)
    return None if payment is None else of(conn, payment)


def read(conn: sa.Connection, payment_id: uuid.UUID) -> PaymentHistory | None:
    """The payment with its attempts, refunds and events, oldest first; None if unknown."""
    if conn.dialect.name == "postgresql":
        return _aggregated(conn, first(conn, _BY_ID, id=payment_id))
    payment = payments.get(conn, payment_id)
    return None if payment is None else of(conn, payment)


def of(conn: sa.Connection, payment: Payment) -> PaymentHistory:
    """The history of ``payment``, read in the caller's transaction, a table at a time."""
    return PaymentHistory(
        payment=payment,
        attempts=attempts.of_payment(conn, payment.id),
        refunds=refunds.of_payment(conn, payment.id),
        events=events.of_payment(conn, payment.id),
        notifications=notifications.of_payment(conn, payment.id),
        captures=captures.of_payment(conn, payment.id),
    )


# The statements are put together from the records' own field names and the platform's table
# names, never from a value: hence the S608 exemptions.


def _rows_as_json(record_type: type[msgspec.Struct], table: str, where: str, order: str) -> str:
    names = ", ".join(record_type.__struct_fields__)
    return (
        f"(SELECT COALESCE(json_agg(x ORDER BY {order}), '[]'::json)"  # noqa: S608
        f" FROM (SELECT {names} FROM {table} WHERE {where}) x)"
    )


_NOTIFICATIONS = (  # noqa: S608
    "(SELECT COALESCE(json_agg(x ORDER BY x.sequence), '[]'::json) FROM (SELECT {notification},"
    " {deliveries} AS deliveries FROM notifications n WHERE n.payment_id = p.id) x)"
).format(
    notification=", ".join(f"n.{name}" for name in Notification.__struct_fields__),
    deliveries=_rows_as_json(Delivery, "notification_deliveries", "notification_id = n.id", "x.id"),
)
_SELECT = (  # noqa: S608
    "SELECT {payment}, {attempts}, {refunds}, {events}, {notifications}, {captures} FROM payments p"
).format(
    payment=", ".join(f"p.{name}" for name in Payment.__struct_fields__),
    attempts=_rows_as_json(Attempt, "payment_attempts", "payment_id = p.id", "x.id"),
    refunds=_rows_as_json(Refund, "refunds", "payment_id = p.id", "x.created_at, x.id"),
    events=_rows_as_json(Event, "payment_events", "payment_id = p.id", "x.id"),
    notifications=_NOTIFICATIONS,
    captures=_rows_as_json(Capture, "captures", "payment_id = p.id", "x.created_at, x.id"),
)
_BY_ID = Sql(_SELECT + " WHERE p.id = :id", only="postgresql")
_OF_CLIENT = Sql(
    _SELECT + " WHERE p.client_id = :client_id AND p.merchant = :merchant", only="postgresql"
)
_OF_OPEN_CLIENT = Sql(
    _SELECT + " WHERE p.client_id = :client_id AND p.merchant IS NULL", only="postgresql"
)
_PAYMENT_WIDTH = len(Payment.__struct_fields__)


def _aggregated(conn: sa.Connection, row: Sequence[Any] | None) -> PaymentHistory | None:
    if row is None:
        return None
    found_attempts, found_refunds, found_events, found_notifications, found_captures = row[
        _PAYMENT_WIDTH:
    ]
    found_deliveries = [entry.pop("deliveries") for entry in found_notifications]
    sent = [
        NotificationSent(notification=notification, deliveries=deliveries)
        for notification, deliveries in zip(
            notifications.EVENT_READER.read_json(found_notifications),
            map(notifications.DELIVERY_READER.read_json, found_deliveries),
            strict=True,
        )
    ]
    return PaymentHistory(
        payment=payments.READER.read(conn, row[:_PAYMENT_WIDTH]),
        attempts=attempts.READER.read_json(found_attempts),
        refunds=refunds.READER.read_json(found_refunds),
        events=events.READER.read_json(found_events),
        notifications=sent,
        captures=captures.READER.read_json(found_captures),
    )
