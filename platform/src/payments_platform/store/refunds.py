"""The ``refunds`` table: every refund, by refund id (the vendor's idempotency reference)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from payments_platform.lifecycle import RefundStatus
from payments_platform.records import Refund
from payments_platform.store.sql import Reader, Sql, changed, first, rows

READER = Reader(Refund, times=("sent_at", "created_at", "updated_at"))
_COLUMNS = READER.columns

_INSERT = Sql(
    "INSERT INTO refunds (id, payment_id, merchant, client_refund_id, amount_minor, status,"
    " gateway, sent_at, trace_parent, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9)"
    " ON CONFLICT DO NOTHING"
)
_REOPEN = Sql(
    "UPDATE refunds SET status = $3, failure_code = NULL, sent_at = $4, updated_at = $5,"
    " trace_parent = $6 WHERE id = $1 AND status = $2 RETURNING {columns}",
    columns=_COLUMNS,
)
_GET = Sql("SELECT {columns} FROM refunds WHERE id = $1", columns=_COLUMNS)
_OF_CLIENT = Sql(
    "SELECT {columns} FROM refunds WHERE client_refund_id = $1 AND merchant = $2", columns=_COLUMNS
)
_OF_OPEN_CLIENT = Sql(
    "SELECT {columns} FROM refunds WHERE client_refund_id = $1 AND merchant IS NULL",
    columns=_COLUMNS,
)
_MARK_SENT = Sql(
    "UPDATE refunds SET sent_at = $2, updated_at = $2 WHERE id = $1 AND sent_at IS NULL"
)
_FINISH = Sql(
    "UPDATE refunds SET status = $3, external_refund_id = $4, failure_code = $5,"
    " updated_at = $6 WHERE id = $1 AND status IN ($2, $7) RETURNING {columns}",
    columns=_COLUMNS,
)
_OF_PAYMENT = Sql(
    "SELECT {columns} FROM refunds WHERE payment_id = $1 ORDER BY created_at, id", columns=_COLUMNS
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
        refund_id,
        payment_id,
        merchant,
        client_refund_id,
        amount_minor,
        RefundStatus.PENDING,
        gateway,
        now if sent else None,
        now,
        trace_parent,
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
        refund_id,
        RefundStatus.FAILED,
        RefundStatus.PENDING,
        now if sent else None,
        now,
        trace_parent,
    )
    return None if row is None else READER.read(conn, row)


def get(conn: sa.Connection, refund_id: uuid.UUID) -> Refund | None:
    """The refund with that id."""
    row = first(conn, _GET, refund_id)
    return None if row is None else READER.read(conn, row)


def find_for_client(
    conn: sa.Connection, merchant: str | None, client_refund_id: uuid.UUID
) -> Refund | None:
    """The refund ``merchant`` (None: the open API) calls ``client_refund_id``."""
    if merchant is None:
        row = first(conn, _OF_OPEN_CLIENT, client_refund_id)
    else:
        row = first(conn, _OF_CLIENT, client_refund_id, merchant)
    return None if row is None else READER.read(conn, row)


def load(conn: sa.Connection, refund_id: uuid.UUID) -> Refund:
    """A refund known to exist (refunds are never deleted)."""
    refund = get(conn, refund_id)
    if refund is None:
        raise LookupError(f"refund {refund_id} is missing from the database")
    return refund


def mark_sent(conn: sa.Connection, refund_id: uuid.UUID, now: datetime) -> None:
    """Note that the refund is about to reach the gateway, so a retry asks before re-sending."""
    changed(conn, _MARK_SENT, refund_id, now)


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
    """Record how the gateway answered a refund still in one of ``expected`` (one or two
    statuses); the refund after, or None if it was not."""
    if not 1 <= len(expected) <= 2:  # the statement names two
        raise ValueError(f"a refund is finished from one or two statuses, not {expected}")
    first_expected, last_expected = expected[0], expected[-1]
    row = first(
        conn,
        _FINISH,
        refund_id,
        first_expected,
        status,
        external_refund_id,
        failure_code,
        now,
        last_expected,
    )
    return None if row is None else READER.read(conn, row)


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[Refund]:
    """Every refund of the payment, oldest first."""
    return READER.read_all(conn, rows(conn, _OF_PAYMENT, payment_id))
