"""The ``refunds`` table: every refund, by refund id (the vendor's idempotency reference)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from payments_platform import schema
from payments_platform.lifecycle import RefundStatus
from payments_platform.records import Refund
from payments_platform.store.sql import Reader, Sql, changed, first, listed, placeholders, rows

READER = Reader(Refund, schema.refunds)

_INSERT = Sql(
    "INSERT INTO refunds (id, payment_id, merchant, client_refund_id, amount_minor, status,"
    " gateway, sent_at, trace_parent, created_at, updated_at) VALUES (:id, :payment_id,"
    " :merchant, :client_refund_id, :amount_minor, :status, :gateway, :sent_at, :trace_parent,"
    " :now, :now) ON CONFLICT DO NOTHING"
)
_REOPEN = Sql(
    "UPDATE refunds SET status = :status, failure_code = NULL, sent_at = :sent_at,"
    " updated_at = :now, trace_parent = :trace_parent WHERE id = :id AND status = :expected"
    " RETURNING {columns}",
    returns=READER,
)
_GET = Sql("SELECT {columns} FROM refunds WHERE id = :id", returns=READER)
_OF_CLIENT = Sql(
    "SELECT {columns} FROM refunds WHERE client_refund_id = :client_refund_id"
    " AND merchant = :merchant",
    returns=READER,
)
_OF_OPEN_CLIENT = Sql(
    "SELECT {columns} FROM refunds WHERE client_refund_id = :client_refund_id AND merchant IS NULL",
    returns=READER,
)
_MARK_SENT = Sql(
    "UPDATE refunds SET sent_at = :now, updated_at = :now WHERE id = :id AND sent_at IS NULL"
)
_OF_PAYMENT = Sql(
    "SELECT {columns} FROM refunds WHERE payment_id = :payment_id ORDER BY created_at, id",
    returns=READER,
)


@functools.cache
def _finish(expected: int) -> Sql:
    return Sql(
        "UPDATE refunds SET status = :status, external_refund_id = :external_refund_id,"
        " failure_code = :failure_code, updated_at = :now"
        " WHERE id = :id AND status IN ({expected}) RETURNING {columns}",
        returns=READER,
        expected=placeholders("expected", expected),
    )


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
    trace_parent: str | None = None,
) -> Refund | None:
    """Write a ``pending`` refund; ``sent`` when it goes to the gateway right away (from the
    request ``trace_parent`` names). None if its id is taken (the row is left alone)."""
    written = changed(
        conn,
        _INSERT,
        id=refund_id,
        payment_id=payment_id,
        merchant=merchant,
        client_refund_id=client_refund_id,
        amount_minor=amount_minor,
        status=RefundStatus.PENDING,
        gateway=gateway,
        sent_at=now if sent else None,
        trace_parent=trace_parent,
        now=now,
    )
    if written != 1:
        return None
    return Refund(
        id=refund_id,
        payment_id=payment_id,
        merchant=merchant,
        client_refund_id=client_refund_id,
        amount_minor=amount_minor,
        status=RefundStatus.PENDING,
        gateway=gateway,
        external_refund_id=None,
        failure_code=None,
        sent_at=now if sent else None,
        created_at=now,
        updated_at=now,
    )


def reopen(
    conn: sa.Connection,
    refund_id: uuid.UUID,
    *,
    now: datetime,
    sent: bool,
    trace_parent: str | None = None,
) -> Refund | None:
    """Make a failed refund that reached no vendor ``pending`` again, to be sent again (as
    :func:`insert` says); the refund after, or None if it was not failed."""
    row = first(
        conn,
        _REOPEN,
        id=refund_id,
        expected=RefundStatus.FAILED,
        status=RefundStatus.PENDING,
        sent_at=now if sent else None,
        now=now,
        trace_parent=trace_parent,
    )
    return None if row is None else READER.read(conn, row)


def get(conn: sa.Connection, refund_id: uuid.UUID) -> Refund | None:
    """The refund with that id."""
    row = first(conn, _GET, id=refund_id)
    return None if row is None else READER.read(conn, row)


def find_for_client(
    conn: sa.Connection, merchant: str | None, client_refund_id: uuid.UUID
) -> Refund | None:
    """The refund ``merchant`` (None: the open API) calls ``client_refund_id``."""
    if merchant is None:
        row = first(conn, _OF_OPEN_CLIENT, client_refund_id=client_refund_id)
    else:
        row = first(conn, _OF_CLIENT, client_refund_id=client_refund_id, merchant=merchant)
    return None if row is None else READER.read(conn, row)


def load(conn: sa.Connection, refund_id: uuid.UUID) -> Refund:
    """A refund known to exist (refunds are never deleted)."""
    refund = get(conn, refund_id)
    if refund is None:
        raise LookupError(f"refund {refund_id} is missing from the database")
    return refund


def mark_sent(conn: sa.Connection, refund_id: uuid.UUID, now: datetime) -> None:
    """Note that the refund is about to reach the gateway, so a retry asks before re-sending."""
    changed(conn, _MARK_SENT, id=refund_id, now=now)


def finish(
    conn: sa.Connection,
    refund_id: uuid.UUID,
    *,
    expected: Sequence[RefundStatus],
    status: RefundStatus,
    now: datetime,
    external_refund_id: str | None = None,
    failure_code: str | None = None,
) -> Refund | None:
    """Record how the gateway answered a refund still in one of ``expected``; the refund
    after, or None if it was not."""
    row = first(
        conn,
        _finish(len(expected)),
        id=refund_id,
        status=status,
        external_refund_id=external_refund_id,
        failure_code=failure_code,
        now=now,
        **listed("expected", expected),
    )
    return None if row is None else READER.read(conn, row)


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[Refund]:
    """Every refund of the payment, oldest first."""
    return READER.read_all(conn, rows(conn, _OF_PAYMENT, payment_id=payment_id))
