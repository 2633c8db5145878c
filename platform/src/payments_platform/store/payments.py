"""The ``payments`` table: one row per client payment id, which is also its lock."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec
import sqlalchemy as sa
from payments_plugins import CaptureMode, NextAction

from payments_platform import schema
from payments_platform.lifecycle import (
    CAPTURABLE,
    REFUNDABLE,
    PaymentStatus,
    captured_in_full,
    holds_authorization,
)
from payments_platform.records import Payment
from payments_platform.store.sql import Json, Reader, Sql, changed, first, listed, placeholders

READER = Reader(Payment, schema.payments)

# Any unique key conflicts (the id, or the merchant's client id of a row written before ids
# were derived per merchant): either way the id is taken.
_INSERT = Sql(
    "INSERT INTO payments (id, merchant, client_id, currency, amount_minor, status, metadata,"
    " description, return_url, capture_mode, created_at, updated_at) VALUES (:id, :merchant,"
    " :client_id, :currency, :amount_minor, :status, :metadata, :description, :return_url,"
    " :capture_mode, :now, :now) ON CONFLICT DO NOTHING"
)
_SELECT = "SELECT {columns} FROM payments WHERE id = :id"
_GET = Sql(_SELECT, returns=READER)
_GET_LOCKED = Sql(_SELECT, lock=True, returns=READER)
_OF_CLIENT = "SELECT {columns} FROM payments WHERE client_id = :client_id AND merchant = :merchant"
_OF_OPEN_CLIENT = "SELECT {columns} FROM payments WHERE client_id = :client_id AND merchant IS NULL"
_FIND_FOR_CLIENT = {
    (False, False): Sql(_OF_CLIENT, returns=READER),
    (False, True): Sql(_OF_CLIENT, lock=True, returns=READER),
    (True, False): Sql(_OF_OPEN_CLIENT, returns=READER),
    (True, True): Sql(_OF_OPEN_CLIENT, lock=True, returns=READER),
}
# Every change of a payment's status, whatever decided it (usecases/transitions.py is its one
# caller): conditional on the status the caller expects, as the row stands.
_CHANGE = Sql(
    "UPDATE payments SET status = :status, failure_code = :failure_code,"
    " gateway = CASE WHEN :forget_gateway THEN NULL ELSE COALESCE(:gateway, gateway) END,"
    " next_action = CASE WHEN :forget_gateway THEN NULL"
    " ELSE COALESCE(:next_action, next_action) END,"
    " external_id = COALESCE(:external_id, external_id),"
    " refunded_minor = refunded_minor + :refunded_minor,"
    # The vendor's word that the amount is authorized (what it said, else what is known, else
    # the whole amount), or captured in full (so claimed too); a capture adds what it took.
    " authorized_minor = CASE WHEN :holds_authorization THEN"
    " COALESCE(:authorized_minor, NULLIF(authorized_minor, 0), amount_minor)"
    " ELSE authorized_minor END,"
    " captured_minor = CASE WHEN :in_full THEN"
    " COALESCE(:authorized_minor, NULLIF(authorized_minor, 0), amount_minor)"
    " ELSE captured_minor + :captured_minor END,"
    " capture_claimed_minor = CASE WHEN :in_full THEN"
    " COALESCE(:authorized_minor, NULLIF(authorized_minor, 0), amount_minor)"
    " ELSE capture_claimed_minor END,"
    " authorization_expires_at = COALESCE(:authorization_expires_at, authorization_expires_at),"
    " updated_at = :now WHERE id = :id AND status = :expected RETURNING {columns}",
    returns=READER,
)
_REFUNDABLE = listed("refundable", sorted(REFUNDABLE))
_CLAIM_REFUND = Sql(
    "UPDATE payments SET refund_claimed_minor = refund_claimed_minor + :claim_minor,"
    " updated_at = :now WHERE id = :id AND status IN ({refundable})"
    " AND captured_minor - refund_claimed_minor >= :claim_minor",
    refundable=placeholders("refundable", len(_REFUNDABLE)),
)
_CAPTURABLE = listed("capturable", sorted(CAPTURABLE))
_CLAIM_CAPTURE = Sql(
    "UPDATE payments SET capture_claimed_minor = capture_claimed_minor + :claim_minor,"
    " updated_at = :now WHERE id = :id AND status IN ({capturable})"
    " AND authorized_minor - capture_claimed_minor >= :claim_minor",
    capturable=placeholders("capturable", len(_CAPTURABLE)),
)
_COUNT_LATE_CAPTURE = Sql(
    "UPDATE payments SET captured_minor = captured_minor + :captured_minor, updated_at = :now"
    " WHERE id = :id AND captured_minor + :captured_minor <= authorized_minor"
)
_RELEASE_CAPTURE = Sql(
    "UPDATE payments SET capture_claimed_minor = capture_claimed_minor - :claim_minor,"
    " updated_at = :now WHERE id = :id"
)
_RELEASE_REFUND = Sql(
    "UPDATE payments SET refund_claimed_minor = refund_claimed_minor - :claim_minor,"
    " updated_at = :now WHERE id = :id"
)


def insert(
    conn: sa.Connection,
    *,
    payment_id: uuid.UUID,
    merchant: str | None,
    client_id: uuid.UUID,
    currency: str,
    amount_minor: int,
    metadata: Mapping[str, str],
    description: str | None,
    now: datetime,
    return_url: str | None = None,
    capture_mode: CaptureMode = CaptureMode.AUTOMATIC,
) -> bool:
    """Write a new ``pending`` payment; False if the id is taken (the row is left alone)."""
    inserted = changed(
        conn,
        _INSERT,
        id=payment_id,
        merchant=merchant,
        client_id=client_id,
        currency=currency,
        amount_minor=amount_minor,
        status=PaymentStatus.PENDING,
        metadata=Json(dict(metadata)),
        description=description,
        return_url=return_url,
        capture_mode=capture_mode,
        now=now,
    )
    return inserted == 1


def get(conn: sa.Connection, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment | None:
    """The payment, optionally locking its row until the transaction ends."""
    row = first(conn, _GET_LOCKED if for_update else _GET, id=payment_id)
    return None if row is None else READER.read(conn, row)


def load(conn: sa.Connection, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment:
    """A payment known to exist (payments are never deleted)."""
    payment = get(conn, payment_id, for_update=for_update)
    if payment is None:
        raise LookupError(f"payment {payment_id} is missing from the database")
    return payment


def find_for_client(
    conn: sa.Connection, merchant: str | None, client_id: uuid.UUID, *, for_update: bool = False
) -> Payment | None:
    """The payment ``merchant`` (None: the open API) calls ``client_id``, optionally locked."""
    statement = _FIND_FOR_CLIENT[merchant is None, for_update]
    if merchant is None:
        row = first(conn, statement, client_id=client_id)
    else:
        row = first(conn, statement, client_id=client_id, merchant=merchant)
    return None if row is None else READER.read(conn, row)


@functools.cache
def _by_external_id(gateways: int, for_update: bool) -> Sql:
    return Sql(
        "SELECT {columns} FROM payments WHERE external_id = :external_id"
        " AND gateway IN ({gateways}) LIMIT 1",
        lock=for_update,
        returns=READER,
        gateways=placeholders("gateway", gateways),
    )


def find_by_external_id(
    conn: sa.Connection, gateways: Sequence[str], external_id: str, *, for_update: bool = False
) -> Payment | None:
    """The payment one of ``gateways`` knows as ``external_id``."""
    if not gateways:
        return None
    statement = _by_external_id(len(gateways), for_update)
    row = first(conn, statement, external_id=external_id, **listed("gateway", gateways))
    return None if row is None else READER.read(conn, row)


def change(
    conn: sa.Connection,
    payment_id: uuid.UUID,
    *,
    expected: PaymentStatus,
    status: PaymentStatus,
    now: datetime,
    failure_code: str | None = None,
    gateway: str | None = None,
    external_id: str | None = None,
    forget_gateway: bool = False,
    next_action: NextAction | None = None,
    refunded_minor: int = 0,
    authorized_minor: int | None = None,
    captured_minor: int = 0,
    authorization_expires_at: datetime | None = None,
) -> Payment | None:
    """Move the payment to ``status`` only if it is still ``expected``; the payment after, or
    None if it was not.

    The failure code is set (None clears it); the gateway and its id for the payment are set
    when given, and the payer's next action (``forget_gateway`` clears the gateway and its next
    action: no vendor holds the payment any more);
    ``refunded_minor`` is added to what was refunded. ``captured_minor`` is what a capture adds
    to what was captured; a change made by none (the vendor's word) to a status that
    :func:`~payments_platform.lifecycle.holds_authorization` has the amount (``authorized_minor``
    when the vendor said it) authorized, and one to a status
    :func:`~payments_platform.lifecycle.captured_in_full` has all of it captured.
    """
    by_vendor = captured_minor == 0
    in_full = by_vendor and captured_in_full(status, expected)
    row = first(
        conn,
        _CHANGE,
        id=payment_id,
        expected=expected,
        status=status,
        failure_code=failure_code,
        forget_gateway=forget_gateway,
        gateway=gateway,
        next_action=None if next_action is None else Json(msgspec.to_builtins(next_action)),
        external_id=external_id,
        refunded_minor=refunded_minor,
        holds_authorization=by_vendor and holds_authorization(status),
        in_full=in_full,
        authorized_minor=authorized_minor,
        captured_minor=captured_minor,
        authorization_expires_at=authorization_expires_at,
        now=now,
    )
    return None if row is None else READER.read(conn, row)


def claim_refund_amount(
    conn: sa.Connection, payment: Payment, amount_minor: int, now: datetime
) -> bool:
    """Take ``amount_minor`` out of what is left to refund, if it still is left.

    The condition is checked by the database against the row as it is now, not as ``payment``
    was read: it is the claim's own guard, whatever lock its caller holds.
    """
    claimed = changed(
        conn, _CLAIM_REFUND, id=payment.id, claim_minor=amount_minor, now=now, **_REFUNDABLE
    )
    return claimed == 1


def release_refund_amount(
    conn: sa.Connection, payment_id: uuid.UUID, amount_minor: int, now: datetime
) -> None:
    """Give back the claim of a refund that did not happen."""
    changed(conn, _RELEASE_REFUND, id=payment_id, claim_minor=amount_minor, now=now)


def claim_capture_amount(
    conn: sa.Connection, payment: Payment, amount_minor: int, now: datetime
) -> bool:
    """Take ``amount_minor`` out of what is left to capture, if it still is left (checked by
    the database against the row as it is now: the claim's own guard)."""
    claimed = changed(
        conn, _CLAIM_CAPTURE, id=payment.id, claim_minor=amount_minor, now=now, **_CAPTURABLE
    )
    return claimed == 1


def count_late_capture(
    conn: sa.Connection, payment_id: uuid.UUID, amount_minor: int, now: datetime
) -> bool:
    """Count a capture whose success was recorded after the vendor's own word moved the
    payment on, where what is counted captured still leaves room for it; False if it does not
    (the vendor's word counted the whole authorization)."""
    return (
        changed(conn, _COUNT_LATE_CAPTURE, id=payment_id, captured_minor=amount_minor, now=now) == 1
    )


def release_capture_amount(
    conn: sa.Connection, payment_id: uuid.UUID, amount_minor: int, now: datetime
) -> None:
    """Give back the claim of a capture that did not happen."""
    changed(conn, _RELEASE_CAPTURE, id=payment_id, claim_minor=amount_minor, now=now)
