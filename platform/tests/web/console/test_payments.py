"""Finding payments in the console: by any id they are known by, by what the listing filters
on (merchant and metadata included, for operators), newest first and a page at a time."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from console_app import ConsoleClient, ConsoleFactory, console_factory
from core_fixtures import WallClock
from payments_platform.access import payment_key
from payments_platform.lifecycle import PaymentStatus
from payments_platform.store import payments

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def open_console(database_url: str, wall_clock: WallClock) -> ConsoleFactory:
    return console_factory(database_url, wall_clock)


async def _store(
    console: ConsoleClient,
    *,
    client_id: uuid.UUID | None = None,
    merchant: str | None = None,
    minutes: int = 0,
    currency: str = "AED",
    status: PaymentStatus | None = None,
    metadata: dict[str, str] | None = None,
) -> uuid.UUID:
    """A payment as the platform stores it, created ``minutes`` after T0; its id."""
    client_id = client_id or uuid.uuid4()
    payment_id = payment_key(merchant, client_id)
    created = T0 + timedelta(minutes=minutes)

    def write(conn: sa.Connection) -> None:
        payments.insert(
            conn,
            payment_id=payment_id,
            merchant=merchant,
            client_id=client_id,
            currency=currency,
            amount_minor=100,
            metadata=metadata or {},
            description=None,
            now=created,
        )
        if status is not None:
            payments.change(
                conn, payment_id, expected=PaymentStatus.PENDING, now=created, status=status
            )

    await console.runtime.database.write(write)
    return payment_id


def _listed(page: str) -> list[str]:
    return re.findall(r'<tr data-payment="([^"]+)">', page)


async def test_an_id_opens_the_payment_it_names_as_the_platform_or_its_client_knows_it(
    open_console: ConsoleFactory,
) -> None:
    shared = uuid.uuid4()
    async with open_console() as console:
        await console.sign_in()
        shop = await _store(console, client_id=shared, merchant="shop")
        other = await _store(console, client_id=shared, merchant="other-shop", minutes=1)
        lone = await _store(console, merchant="shop")
        lone_client = (
            await console.runtime.database.read(lambda c: payments.load(c, lone))
        ).client_id

        by_platform_id = await console.get(f"/console/payments?id={shop}")
        by_client_id = await console.get(f"/console/payments?id={lone_client}")
        shared_by_two = await console.get(f"/console/payments?id={shared}&status=paid")
        nobody = await console.get(f"/console/payments?id={uuid.uuid4()}")

    assert by_platform_id.status_code == 303
    assert by_platform_id.headers["location"] == f"/console/payments/{shop}"
    assert by_client_id.headers["location"] == f"/console/payments/{lone}"
    # Two merchants gave the same id: both are listed (the other fields are left aside).
    assert _listed(shared_by_two.text) == [str(other), str(shop)]
    assert "No payment matches." in nobody.text


async def test_the_filters_combine_merchant_and_metadata_included(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        await console.sign_in()
        wanted = await _store(
            console, merchant="shop", status=PaymentStatus.PAID, metadata={"order": "A-1"}
        )
        await _store(console, merchant="shop", status=PaymentStatus.PAID, metadata={"order": "B-2"})
        await _store(console, merchant="other-shop", metadata={"order": "A-1"})
        usd = await _store(console, currency="USD", minutes=30)

        by_metadata = await console.get(
            "/console/payments?metadata_key=order&metadata_value=A-1&merchant=shop"
        )
        by_status = await console.get("/console/payments?status=paid&currency=aed")
        by_time = await console.get("/console/payments?created_after=2026-12-01T09:15")
        everything = await console.get("/console/payments")

    assert _listed(by_metadata.text) == [str(wanted)]
    assert len(_listed(by_status.text)) == 2
    assert _listed(by_time.text) == [str(usd)]
    assert len(_listed(everything.text)) == 4
    # The form shows the search again, as typed.
    assert 'name="metadata_value" value="A-1"' in by_metadata.text


async def test_results_come_newest_first_a_page_at_a_time(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        await console.sign_in()
        stored = [await _store(console, minutes=minute, currency="USD") for minute in range(55)]
        await _store(console, minutes=60, currency="AED")  # not in the search

        first = await console.get("/console/payments?currency=USD")
        older = re.search(r'href="(/console/payments\?[^"]+)" rel="next"', first.text)
        assert older is not None
        second = await console.get(html.unescape(older[1]))

    newest_first = [str(payment_id) for payment_id in reversed(stored)]
    assert _listed(first.text) == newest_first[:50]
    assert _listed(second.text) == newest_first[50:]
    assert 'rel="next"' not in second.text
    assert 'href="/console/payments?currency=USD">Newest</a>' in second.text


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("id=12", "'12' is not a payment id"),
        ("status=lost", "'lost' is not a payment status"),
        ("currency=dirham", "'dirham' is not a currency code"),
        ("merchant=Big%20Shop", "'Big Shop' is not a merchant name"),
        ("metadata_value=A-1", "a metadata value needs the key it is under"),
        ("created_after=yesterday", "created after 'yesterday' is not a time"),
        ("cursor=zz", "the page asked for is not one this search gave"),
    ],
)
async def test_a_search_that_cannot_be_read_says_why(
    open_console: ConsoleFactory, query: str, complaint: str
) -> None:
    async with open_console() as console:
        await console.sign_in()
        answer = await console.get(f"/console/payments?{query}")

    assert answer.status_code == 200
    assert complaint in html.unescape(answer.text)
    assert "<table" not in answer.text


async def test_the_overview_lists_the_payments_that_are_stuck(
    open_console: ConsoleFactory, wall_clock: WallClock
) -> None:
    async with open_console() as console:
        await console.sign_in()
        unknown = await _store(console, status=PaymentStatus.UNKNOWN)
        old_pending = await _store(console)
        minutes_ago = int((wall_clock.now - T0).total_seconds() // 60)
        fresh_pending = await _store(console, minutes=minutes_ago)
        paid = await _store(console, status=PaymentStatus.PAID)

        page = (await console.get("/console/")).text

    sections = dict(re.findall(r'<div data-stuck="(\w+)">(.*?)</div>', page, re.DOTALL))
    assert str(unknown) in sections["unknown"]
    assert str(old_pending) in sections["pending"]
    assert str(fresh_pending) not in page
    assert str(paid) not in page
