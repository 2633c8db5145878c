"""The ``refunds`` table: every refund, by refund id (the vendor's idempotency reference)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from payments_platform.lifecycle import RefundStatus
from payments_platform.records import Refund, from_row
from payments_platform.schema import refunds

_INSERT = {
    "postgresql": postgresql.insert(refunds).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(refunds).on_conflict_do_nothing(),
}


def insert(
    conn: sa.Connection,
    *,
    refund_id: uuid.UUID,
    payment_id: uuid.UUID,
    merchant: str | None,
    client_refund_id: uuid.UUID,
    amount_minor: int,
    gateway: str,
    now: datetime,
    sent: bool,
) -> bool:
    """Write a ``pending`` refund; ``sent`` when it goes to the gateway right away. False if
    its id is taken (the row is left alone)."""
    result = conn.execute(
        _INSERT[conn.dialect.name].values(
            id=refund_id,
            payment_id=payment_id,
            merchant=merchant,
            client_refund_id=client_refund_id,
            amount_minor=amount_minor,
            status=RefundStatus.PENDING,
            gateway=gateway,
            sent_at=now if sent else None,
            created_at=now,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def reopen(conn: sa.Connection, refund_id: uuid.UUID, *, now: datetime, sent: bool) -> None:
    """Make a failed refund that reached no vendor ``pending`` again, to be sent again."""
    conn.execute(
        sa.update(refunds)
        .where(refunds.c.id == refund_id, refunds.c.status == RefundStatus.FAILED)
        .values(
            status=RefundStatus.PENDING,
            failure_code=None,
            sent_at=now if sent else None,
            updated_at=now,
        )
    )


def get(conn: sa.Connection, refund_id: uuid.UUID) -> Refund | None:
    """The refund with that id."""
    row = conn.execute(sa.select(refunds).where(refunds.c.id == refund_id)).one_or_none()
    return None if row is None else from_row(Refund, row)


def find_for_client(
    conn: sa.Connection, merchant: str | None, client_refund_id: uuid.UUID
) -> Refund | None:
    """The refund ``merchant`` (None: the open API) calls ``client_refund_id``."""
    owner = refunds.c.merchant.is_(None) if merchant is None else refunds.c.merchant == merchant
    row = conn.execute(
        sa.select(refunds).where(owner, refunds.c.client_refund_id == client_refund_id)
    ).one_or_none()
    return None if row is None else from_row(Refund, row)


def load(conn: sa.Connection, refund_id: uuid.UUID) -> Refund:
    """A refund known to exist (refunds are never deleted)."""
    refund = get(conn, refund_id)
    if refund is None:
        raise LookupError(f"refund {refund_id} is missing from the database")
    return refund


def mark_sent(conn: sa.Connection, refund_id: uuid.UUID, now: datetime) -> None:
    """Note that the refund is about to reach the gateway, so a retry asks before re-sending."""
    conn.execute(
        sa.update(refunds)
        .where(refunds.c.id == refund_id, refunds.c.sent_at.is_(None))
        .values(sent_at=now, updated_at=now)
    )


def finish(
    conn: sa.Connection,
    refund_id: uuid.UUID,
    *,
    status: RefundStatus,
    now: datetime,
    external_refund_id: str | None = None,
    failure_code: str | None = None,
) -> None:
    """Record how the gateway answered a refund."""
    conn.execute(
        sa.update(refunds)
        .where(refunds.c.id == refund_id)
        .values(
            status=status,
            external_refund_id=external_refund_id,
            failure_code=failure_code,
            updated_at=now,
        )
    )


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[Refund]:
    """Every refund of the payment, oldest first."""
    rows = conn.execute(
        sa.select(refunds)
        .where(refunds.c.payment_id == payment_id)
        .order_by(refunds.c.created_at, refunds.c.id)
    )
    return [from_row(Refund, row) for row in rows]
