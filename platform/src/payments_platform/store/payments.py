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
# Every change of a payment's status, whatever decided it (usecases/transitions.py is its one
# caller): conditional on the status the caller expects, as the row stands.
_CHANGE = Sql(
    "UPDATE payments SET status = $3, failure_code = $4,"
    " gateway = CASE WHEN $5 THEN NULL ELSE COALESCE($6, gateway) END,"
    " external_id = COALESCE($7, external_id), refunded_minor = refunded_minor + $8,"
    " updated_at = $9 WHERE id = $1 AND status = $2 RETURNING {columns}",
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
    refunded_minor: int = 0,
) -> Payment | None:
    """Move the payment to ``status`` only if it is still ``expected``; the payment after, or
    None if it was not.

    The failure code is set (None clears it); the gateway and its id for the payment are set
    when given (``forget_gateway`` clears the gateway: no vendor holds the payment any more);
    ``refunded_minor`` is added to what was refunded.
    """
    row = first(
        conn,
        _CHANGE,
        payment_id,
        expected,
        status,
        failure_code,
        forget_gateway,
        gateway,
        external_id,
        refunded_minor,
        now,
    )
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
