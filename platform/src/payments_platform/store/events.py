"""The ``payment_events`` table: the append-only audit of every state change and every webhook
received, accepted or not."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from payments_platform.records import Event, from_row
from payments_platform.schema import payment_events
from payments_platform.store.text import storable_text

_INSERT = sa.insert(payment_events)


def record(
    conn: sa.Connection,
    *,
    payment_id: uuid.UUID | None,
    kind: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    gateway: str | None = None,
    external_id: str | None = None,
    accepted: bool | None = None,
    reason: str | None = None,
    body_sha256: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append to the audit trail."""
    conn.execute(
        _INSERT,
        {
            "payment_id": payment_id,
            "kind": kind,
            "from_status": from_status,
            "to_status": to_status,
            "gateway": gateway,
            "external_id": external_id,
            "accepted": accepted,
            "reason": storable_text(reason),
            "body_sha256": body_sha256,
            "detail": detail,
            "created_at": now,
        },
    )


def unmatched_webhooks(
    conn: sa.Connection, gateways: Sequence[str], external_id: str
) -> list[Event]:
    """Webhooks that named ``external_id`` before any payment was known under it."""
    rows = conn.execute(
        sa.select(payment_events)
        .where(
            payment_events.c.payment_id.is_(None),
            payment_events.c.kind == "webhook",
            payment_events.c.gateway.in_(gateways),
            payment_events.c.external_id == external_id,
        )
        .order_by(payment_events.c.id)
    )
    return [from_row(Event, row) for row in rows]


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[Event]:
    """The payment's audit trail, oldest first."""
    rows = conn.execute(
        sa.select(payment_events)
        .where(payment_events.c.payment_id == payment_id)
        .order_by(payment_events.c.id)
    )
    return [from_row(Event, row) for row in rows]
