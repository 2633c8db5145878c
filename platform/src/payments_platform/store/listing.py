"""Listing payments, newest first, a page at a time (``GET /payments``, the console's search).

Pages are cut with a keyset, not an offset: a cursor names the last payment of a page by its
creation time and id, and the next page starts strictly after it in the order
``created_at DESC, id DESC``. Payments created while a client pages through appear before the
first page it read and never move one it has not read yet, so none is skipped or repeated.
"""

from __future__ import annotations

import enum
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa

from payments_platform.lifecycle import PaymentStatus
from payments_platform.records import Payment
from payments_platform.schema import payments
from payments_platform.store.payments import READER


class Everyone(enum.Enum):
    """Payments of every merchant (operators), where a merchant's name would narrow them."""

    EVERYONE = "everyone"


EVERYONE = Everyone.EVERYONE


class PaymentFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What the listed payments must match; None matches anything."""

    status: PaymentStatus | None = None
    gateway: str | None = None
    currency: str | None = None
    external_id: str | None = None
    created_after: datetime | None = None
    """Created at or after this time."""
    created_before: datetime | None = None
    """Created strictly before this time."""
    metadata: tuple[tuple[str, str], ...] = ()
    """Metadata keys and the value each must have. No index serves them: the payments the
    other conditions leave are read newest first until a page is full of matches."""
    client_id: uuid.UUID | None = None
    """The id its client gave (operators look payments up by it across merchants)."""
    description: str | None = None
    """Text its description contains, whatever the case of its letters (of ASCII letters only on
    SQLite); ``%`` and ``_`` are matched as themselves. No index serves it (as metadata)."""
    min_amount_minor: int | None = None
    """An amount of at least this many minor units (of any currency, unless ``currency``)."""
    max_amount_minor: int | None = None
    """An amount of at most this many minor units."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR_PATTERN = "^[0-9a-f]{46}$"
"""A position as the console's links carry it: the creation time in microseconds since 1970
(14 hex digits, enough for two thousand years) and the id (32 hex digits). Operators see every
payment, so any position is theirs to ask for; clients get sealed cursors instead
(:mod:`payments_platform.cursors`)."""


class Cursor(NamedTuple):
    """Where a page ended: the last payment's creation time and id."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        """The position as the console's links carry it."""
        micros = (self.created_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros:014x}{self.id.hex}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """A cursor from its text; ValueError when it is not of the cursor's form."""
        if not re.fullmatch(CURSOR_PATTERN, text):
            raise ValueError(f"cursor {text[:60]!r} is not a `next_cursor` this service gave")
        micros, hex_id = int(text[:14], 16), text[14:]
        return cls(_EPOCH + timedelta(microseconds=micros), uuid.UUID(hex=hex_id))


class PaymentPage(NamedTuple):
    """One page of payments, newest first, and the cursor of the next page (None: the last)."""

    payments: list[Payment]
    next: Cursor | None


def list_payments(
    conn: sa.Connection,
    *,
    merchant: str | Everyone | None,
    filters: PaymentFilter,
    after: Cursor | None,
    limit: int,
) -> PaymentPage:
    """The payments of ``merchant`` (None: those made while the API was open) that match
    ``filters``, newest first, starting after ``after``; at most ``limit`` of them."""
    query = sa.select(payments).where(*_conditions(merchant, filters))
    if after is not None:
        query = query.where(
            # Redundant with the two below, and what lets the database start the page at the
            # cursor in its index instead of walking there from the newest payment.
            payments.c.created_at <= after.created_at,
            sa.or_(
                payments.c.created_at < after.created_at,
                sa.and_(payments.c.created_at == after.created_at, payments.c.id < after.id),
            ),
        )
    rows = conn.execute(
        query.order_by(payments.c.created_at.desc(), payments.c.id.desc()).limit(limit + 1)
    ).all()
    found = [READER.read_row(row) for row in rows[:limit]]
    more = len(rows) > limit
    return PaymentPage(found, Cursor(found[-1].created_at, found[-1].id) if more else None)


def _conditions(merchant: str | Everyone | None, filters: PaymentFilter) -> list[Any]:
    conditions: list[Any] = []
    if merchant is None:
        conditions.append(payments.c.merchant.is_(None))
    elif not isinstance(merchant, Everyone):
        conditions.append(payments.c.merchant == merchant)
    for column, value in [
        (payments.c.status, filters.status),
        (payments.c.gateway, filters.gateway),
        (payments.c.currency, filters.currency),
        (payments.c.external_id, filters.external_id),
        (payments.c.client_id, filters.client_id),
    ]:
        if value is not None:
            conditions.append(column == value)
    if filters.created_after is not None:
        conditions.append(payments.c.created_at >= filters.created_after)
    if filters.created_before is not None:
        conditions.append(payments.c.created_at < filters.created_before)
    for key, value in filters.metadata:
        conditions.append(payments.c.metadata[key].as_string() == value)
    if filters.description is not None:
        conditions.append(payments.c.description.icontains(filters.description, autoescape=True))
    if filters.min_amount_minor is not None:
        conditions.append(payments.c.amount_minor >= filters.min_amount_minor)
    if filters.max_amount_minor is not None:
        conditions.append(payments.c.amount_minor <= filters.max_amount_minor)
    return conditions
