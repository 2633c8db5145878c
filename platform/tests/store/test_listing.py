"""Listing payments (``store/listing``) by what operators search on besides the client API's
filters: text a description contains, and an amount or a range of amounts; and pages that
follow one another across payments created in the same microsecond."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from payments_platform.store import payments
from payments_platform.store.listing import EVERYONE, Cursor, PaymentFilter, list_payments

from store.payment_rows import NOW, InTransaction


def _store(
    conn: sa.Connection,
    *,
    description: str | None = None,
    amount_minor: int = 1000,
    currency: str = "AED",
    minutes: int = 0,
) -> uuid.UUID:
    payment_id = uuid.uuid4()
    assert payments.insert(
        conn,
        payment_id=payment_id,
        merchant="shop",
        client_id=payment_id,
        currency=currency,
        amount_minor=amount_minor,
        metadata={},
        description=description,
        now=NOW + timedelta(minutes=minutes),
    )
    return payment_id


def _found(conn: sa.Connection, filters: PaymentFilter) -> list[uuid.UUID]:
    page = list_payments(conn, merchant=EVERYONE, filters=filters, after=None, limit=50)
    return [payment.id for payment in page.payments]


@pytest.mark.parametrize(
    ("contains", "expected"),
    [
        ("order", ["ORDER-7", "order_1", "Order 1000 paid", "Order 100% paid"]),
        ("100%", ["Order 100% paid"]),  # % is itself, not "anything"
        ("order_", ["order_1"]),  # _ too
        ("R 10", ["Order 1000 paid", "Order 100% paid"]),
        ("/", ["a/b"]),  # and the escape character
        ("nothing like it", []),
    ],
)
async def test_a_description_is_found_by_text_it_contains_whatever_the_case(
    in_transaction: InTransaction, contains: str, expected: list[str]
) -> None:
    def body(conn: sa.Connection) -> None:
        described = {}
        for minute, text in enumerate(
            ["Order 100% paid", "Order 1000 paid", "order_1", "ORDER-7", "a/b"]
        ):
            described[_store(conn, description=text, minutes=minute)] = text
        _store(conn, description=None, minutes=10)

        found = _found(conn, PaymentFilter(description=contains))

        assert [described[payment_id] for payment_id in found] == expected

    await in_transaction(body)


async def test_an_amount_is_found_exactly_or_in_a_range_of_minor_units(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        amounts = {
            _store(conn, amount_minor=amount, currency=currency, minutes=minute): (
                amount,
                currency,
            )
            for minute, (amount, currency) in enumerate(
                [(999, "AED"), (1000, "AED"), (1250, "AED"), (5000, "AED"), (1250, "JPY")]
            )
        }

        def amounts_of(filters: PaymentFilter) -> list[tuple[int, str]]:
            return [amounts[payment_id] for payment_id in _found(conn, filters)]

        assert amounts_of(PaymentFilter(min_amount_minor=1250, max_amount_minor=1250)) == [
            (1250, "JPY"),
            (1250, "AED"),
        ]
        assert amounts_of(
            PaymentFilter(currency="AED", min_amount_minor=1000, max_amount_minor=1250)
        ) == [(1250, "AED"), (1000, "AED")]
        assert amounts_of(PaymentFilter(currency="AED", min_amount_minor=1251)) == [(5000, "AED")]
        assert amounts_of(PaymentFilter(max_amount_minor=999)) == [(999, "AED")]

    await in_transaction(body)


async def test_pages_follow_one_another_across_payments_created_in_the_same_microsecond(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        same_time = [_store(conn) for _ in range(5)]
        older = _store(conn, minutes=-1)
        newer = _store(conn, minutes=1)

        seen: list[uuid.UUID] = []
        after: Cursor | None = None
        while True:
            page = list_payments(
                conn, merchant=EVERYONE, filters=PaymentFilter(), after=after, limit=2
            )
            seen += [payment.id for payment in page.payments]
            if page.next is None:
                break
            after = page.next

        assert seen == [newer, *sorted(same_time, reverse=True), older]

    await in_transaction(body)
