"""The ``captures`` table: every capture, by capture id (the vendor's idempotency reference)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from payments_platform import schema
from payments_platform.lifecycle import CaptureStatus
from payments_platform.records import Capture
from payments_platform.store.sql import Reader, Sql, changed, first, listed, placeholders, rows

READER = Reader(Capture, schema.captures)

_INSERT = Sql(
    "INSERT INTO captures (id, payment_id, merchant, client_capture_id, amount_minor, final,"
    " status, gateway, sent_at, trace_parent, created_at, updated_at) VALUES (:id, :payment_id,"
    " :merchant, :client_capture_id, :amount_minor, :final, :status, :gateway, :sent_at,"
    " :trace_parent, :now, :now) ON CONFLICT DO NOTHING"
)
_REOPEN = Sql(
    "UPDATE captures SET status = :status, failure_code = NULL, sent_at = :sent_at,"
    " updated_at = :now, trace_parent = :trace_parent WHERE id = :id AND status = :expected"
    " RETURNING {columns}",
    returns=READER,
)
_GET = Sql("SELECT {columns} FROM captures WHERE id = :id", returns=READER)
_OF_CLIENT = Sql(
    "SELECT {columns} FROM captures WHERE client_capture_id = :client_capture_id"
    " AND merchant = :merchant",
    returns=READER,
)
_OF_OPEN_CLIENT = Sql(
    "SELECT {columns} FROM captures WHERE client_capture_id = :client_capture_id"
    " AND merchant IS NULL",
    returns=READER,
)
_MARK_SENT = Sql(
    "UPDATE captures SET sent_at = :now, updated_at = :now WHERE id = :id AND sent_at IS NULL"
)
_OF_PAYMENT = Sql(
    "SELECT {columns} FROM captures WHERE payment_id = :payment_id ORDER BY created_at, id",
    returns=READER,
)


@functools.cache
def _finish(expected: int) -> Sql:
    return Sql(
        "UPDATE captures SET status = :status, external_capture_id = :external_capture_id,"
        " failure_code = :failure_code, updated_at = :now"
        " WHERE id = :id AND status IN ({expected}) RETURNING {columns}",
        returns=READER,
        expected=placeholders("expected", expected),
    )


def insert(
    conn: sa.Connection,
    *,
    capture_id: uuid.UUID,
    payment_id: uuid.UUID,
    merchant: str | None,
    client_capture_id: uuid.UUID,
    amount_minor: int,
    final: bool,
    gateway: str,
    now: datetime,
    sent: bool,
    trace_parent: str | None = None,
) -> Capture | None:
    """Write a ``pending`` capture; ``sent`` when it goes to the gateway right away (from the
    request ``trace_parent`` names). None if its id is taken (the row is left alone)."""
    written = changed(
        conn,
        _INSERT,
        id=capture_id,
        payment_id=payment_id,
        merchant=merchant,
        client_capture_id=client_capture_id,
        amount_minor=amount_minor,
        final=final,
        status=CaptureStatus.PENDING,
        gateway=gateway,
        sent_at=now if sent else None,
        trace_parent=trace_parent,
        now=now,
    )
    if written != 1:
        return None
    return Capture(
        id=capture_id,
        payment_id=payment_id,
        merchant=merchant,
        client_capture_id=client_capture_id,
        amount_minor=amount_minor,
        final=final,
        status=CaptureStatus.PENDING,
        gateway=gateway,
        external_capture_id=None,
        failure_code=None,
        sent_at=now if sent else None,
        created_at=now,
        updated_at=now,
    )


def reopen(
    conn: sa.Connection,
    capture_id: uuid.UUID,
    *,
    now: datetime,
    sent: bool,
    trace_parent: str | None = None,
) -> Capture | None:
    """Make a failed capture that reached no vendor ``pending`` again, to be sent again (as
    :func:`insert` says); the capture after, or None if it was not failed."""
    row = first(
        conn,
        _REOPEN,
        id=capture_id,
        expected=CaptureStatus.FAILED,
        status=CaptureStatus.PENDING,
        sent_at=now if sent else None,
        now=now,
        trace_parent=trace_parent,
    )
    return None if row is None else READER.read(conn, row)


def get(conn: sa.Connection, capture_id: uuid.UUID) -> Capture | None:
    """The capture with that id."""
    row = first(conn, _GET, id=capture_id)
    return None if row is None else READER.read(conn, row)


def find_for_client(
    conn: sa.Connection, merchant: str | None, client_capture_id: uuid.UUID
) -> Capture | None:
    """The capture ``merchant`` (None: the open API) calls ``client_capture_id``."""
    if merchant is None:
        row = first(conn, _OF_OPEN_CLIENT, client_capture_id=client_capture_id)
    else:
        row = first(conn, _OF_CLIENT, client_capture_id=client_capture_id, merchant=merchant)
    return None if row is None else READER.read(conn, row)


def load(conn: sa.Connection, capture_id: uuid.UUID) -> Capture:
    """A capture known to exist (captures are never deleted)."""
    capture = get(conn, capture_id)
    if capture is None:
        raise LookupError(f"capture {capture_id} is missing from the database")
    return capture


def mark_sent(conn: sa.Connection, capture_id: uuid.UUID, now: datetime) -> None:
    """Note that the capture is about to reach the gateway, so a retry asks before re-sending."""
    changed(conn, _MARK_SENT, id=capture_id, now=now)


def finish(
    conn: sa.Connection,
    capture_id: uuid.UUID,
    *,
    expected: Sequence[CaptureStatus],
    status: CaptureStatus,
    now: datetime,
    external_capture_id: str | None = None,
    failure_code: str | None = None,
) -> Capture | None:
    """Record how the gateway answered a capture still in one of ``expected``; the capture
    after, or None if it was not."""
    row = first(
        conn,
        _finish(len(expected)),
        id=capture_id,
        status=status,
        external_capture_id=external_capture_id,
        failure_code=failure_code,
        now=now,
        **listed("expected", expected),
    )
    return None if row is None else READER.read(conn, row)


def of_payment(conn: sa.Connection, payment_id: uuid.UUID) -> list[Capture]:
    """Every capture of the payment, oldest first."""
    return READER.read_all(conn, rows(conn, _OF_PAYMENT, payment_id=payment_id))
