"""The ``payments`` table: one row per client payment id, which is also its lock."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa

from payments_platform.lifecycle import REFUNDABLE, PaymentStatus
from payments_platform.records import Payment
from payments_platform.store.sql import Json, Reader, Sql, changed, first

READER = Reader(Payment, times=("created_at", "updated_at"), json=("metadata",))
_COLUMNS = READER.columns

# Any unique key conflicts (the id, or the merchant's client id of a row written before ids
# were derived per merchant): either way the id is taken.
_INSERT = Sql(
    "INSERT INTO payments (id, merchant, client_id, currency, amount_minor, status, metadata,"
    " description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
    " ON CONFLICT DO NOTHING"
)
_SELECT = "SELECT {columns} FROM payments WHERE id = $1"
_GET = Sql(_SELECT, columns=_COLUMNS)
_GET_LOCKED = Sql(_SELECT, lock=True, columns=_COLUMNS)
_OF_CLIENT = "SELECT {columns} FROM payments WHERE client_id = $1 AND merchant = $2"
_OF_OPEN_CLIENT = "SELECT {columns} FROM payments WHERE client_id = $1 AND merchant IS NULL"
_FIND_FOR_CLIENT = {
    (False, False): Sql(_OF_CLIENT, columns=_COLUMNS),
    (False, True): Sql(_OF_CLIENT, lock=True, columns=_COLUMNS),
    (True, False): Sql(_OF_OPEN_CLIENT, columns=_COLUMNS),
    (True, True): Sql(_OF_OPEN_CLIENT, lock=True, columns=_COLUMNS),
}
_MOVE = Sql(
    "UPDATE payments SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2"
    " RETURNING {columns}",
    columns=_COLUMNS,
)
_SETTLE = Sql(
    "UPDATE payments SET status = $3, failure_code = $4, gateway = COALESCE($5, gateway),"
    " external_id = COALESCE($6, external_id), updated_at = $7 WHERE id = $1 AND status = $2"
    " RETURNING {columns}",
    columns=_COLUMNS,
)
_REOPEN = Sql(
    "UPDATE payments SET status = $3, failure_code = NULL, gateway = NULL, updated_at = $4"
    " WHERE id = $1 AND status = $2 RETURNING {columns}",
    columns=_COLUMNS,
)
_CLAIM_REFUND = Sql(
    "UPDATE payments SET refund_claimed_minor = refund_claimed_minor + $2, updated_at = $3"
    " WHERE id = $1 AND status IN ($4, $5) AND amount_minor - refund_claimed_minor >= $2"
)
_RELEASE_REFUND = Sql(
    "UPDATE payments SET refund_claimed_minor = refund_claimed_minor - $2, updated_at = $3"
    " WHERE id = $1"
)
_COUNT_REFUNDED = Sql(
    "UPDATE payments SET refunded_minor = refunded_minor + $2,"
    " status = CASE WHEN refunded_minor + $2 = amount_minor THEN $3 ELSE $4 END,"
    " updated_at = $5 WHERE id = $1 RETURNING {columns}",
    columns=_COLUMNS,
)
_REFUNDABLE = tuple(sorted(REFUNDABLE))
if len(_REFUNDABLE) != 2:  # pragma: no cover - the statement names two
    raise RuntimeError(f"_CLAIM_REFUND expects two refundable statuses, not {_REFUNDABLE}")


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
) -> bool:
    """Write a new ``pending`` payment; False if the id is taken (the row is left alone)."""
    return (
        changed(
            conn,
            _INSERT,
            payment_id,
            merchant,
            client_id,
            currency,
            amount_minor,
            PaymentStatus.PENDING,
            Json(dict(metadata)),
            description,
            now,
        )
        == 1
    )


def get(conn: sa.Connection, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment | None:
    """The payment, optionally locking its row until the transaction ends."""
    row = first(conn, _GET_LOCKED if for_update else _GET, payment_id)
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
    params = (client_id,) if merchant is None else (client_id, merchant)
    row = first(conn, statement, *params)
    return None if row is None else READER.read(conn, row)


@functools.cache
def _by_external_id(gateways: int, for_update: bool) -> Sql:
    names = ", ".join(f"${n}" for n in range(2, gateways + 2))
    return Sql(
        "SELECT {columns} FROM payments WHERE external_id = $1 AND gateway IN ({names}) LIMIT 1",
        lock=for_update,
        columns=_COLUMNS,
        names=names,
    )


def find_by_external_id(
    conn: sa.Connection, gateways: Sequence[str], external_id: str, *, for_update: bool = False
) -> Payment | None:
    """The payment one of ``gateways`` knows as ``external_id``."""
    if not gateways:
        return None
    row = first(conn, _by_external_id(len(gateways), for_update), external_id, *gateways)
    return None if row is None else READER.read(conn, row)


def move(
    conn: sa.Connection,
    payment_id: uuid.UUID,
    *,
    expected: PaymentStatus,
    status: PaymentStatus,
    now: datetime,
) -> Payment | None:
    """Move the payment to ``status`` only if it is still ``expected``; the payment after, or
    None if it was not."""
    row = first(conn, _MOVE, payment_id, expected, status, now)
    return None if row is None else READER.read(conn, row)


def settle(
    conn: sa.Connection,
    payment_id: uuid.UUID,
    *,
    expected: PaymentStatus,
    status: PaymentStatus,
    failure_code: str | None,
    gateway: str | None,
    external_id: str | None,
    now: datetime,
) -> Payment | None:
    """:func:`move` with what a gateway answered: the failure code (None clears it), and the
    gateway and its id for the payment when given; the payment after, or None."""
    row = first(
        conn, _SETTLE, payment_id, expected, status, failure_code, gateway, external_id, now
    )
    return None if row is None else READER.read(conn, row)


def reopen(
    conn: sa.Connection, payment_id: uuid.UUID, *, expected: PaymentStatus, now: datetime
) -> Payment | None:
    """Make a payment no gateway holds ``pending`` again, with no gateway and no failure; the
    payment after, or None if it was not ``expected``."""
    row = first(conn, _REOPEN, payment_id, expected, PaymentStatus.PENDING, now)
    return None if row is None else READER.read(conn, row)


def claim_refund_amount(
    conn: sa.Connection, payment: Payment, amount_minor: int, now: datetime
) -> bool:
    """Take ``amount_minor`` out of what is left to refund, if it still is left.

    The condition is checked by the database against the row as it is now, not as ``payment``
    was read: it is the claim's own guard, whatever lock its caller holds.
    """
    return changed(conn, _CLAIM_REFUND, payment.id, amount_minor, now, *_REFUNDABLE) == 1


def release_refund_amount(
    conn: sa.Connection, payment_id: uuid.UUID, amount_minor: int, now: datetime
) -> None:
    """Give back the claim of a refund that did not happen."""
    changed(conn, _RELEASE_REFUND, payment_id, amount_minor, now)


def count_refunded(
    conn: sa.Connection, payment_id: uuid.UUID, amount_minor: int, now: datetime
) -> Payment:
    """Count a succeeded refund against the payment and move it to (partially) refunded; the
    payment after."""
    row = first(
        conn,
        _COUNT_REFUNDED,
        payment_id,
        amount_minor,
        PaymentStatus.REFUNDED,
        PaymentStatus.PARTIALLY_REFUNDED,
        now,
    )
    if row is None:
        raise LookupError(f"payment {payment_id} is missing from the database")
    return READER.read(conn, row)
