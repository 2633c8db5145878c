"""GET /payments: the caller's payments, newest first, filtered, a keyset page at a time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from payments_platform.store import payments
from payments_platform.store.listing import PaymentFilter
from payments_platform.usecases import reads

from .conftest import AppFactory, Vendor, runtime_of
from .test_security import ALICE, BOB, KEYS, as_merchant, signed_gateway


def json_gateway(vendor: Vendor) -> dict[str, Any]:
    return {"type": "json", "settings": {"base_url": vendor.base_url}}


async def start(client: AsyncTestClient[Any], amount: int = 100, **body: Any) -> dict[str, Any]:
    payload = {"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": amount, **body}
    answer = await client.post("/init-payment", json=payload)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def every_page(
    client: AsyncTestClient[Any],
    limit: int,
    between_pages: Callable[[], Awaitable[object]] | None = None,
    **query: Any,
) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        if between_pages is not None and pages:
            await between_pages()
        params = {**query, "limit": limit} | ({"cursor": cursor} if cursor else {})
        answer = await client.get("/payments", params=params)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json()["payments"])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return pages


async def test_pages_list_every_payment_once_newest_first(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        created = [await start(client, amount=100 + n) for n in range(7)]
        pages = await every_page(client, limit=3)
        assert [len(page) for page in pages] == [3, 3, 1]
        listed = [payment for page in pages for payment in page]
        assert [p["id"] for p in listed] == [p["id"] for p in reversed(created)]
        assert listed[0] == created[-1]  # a payment is shown as GET /payments/{id} shows it


async def test_filters_combine(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        first = await start(client)
        second = await start(client, metadata={"order": "2"})
        await vendor.payer_acts(second["external_id"])
        await client.post(
            "/external/json-webhook",
            json={"external_id": second["external_id"], "status": "paid"},
        )

        async def ids(**query: Any) -> list[str]:
            answer = await client.get("/payments", params=query)
            assert answer.status_code == 200, answer.text
            return [p["id"] for p in answer.json()["payments"]]

        assert await ids(status="paid") == [second["id"]]
        assert await ids(status="initiated") == [first["id"]]
        assert await ids(external_id=first["external_id"]) == [first["id"]]
        assert await ids(gateway="json", currency="AED") == [second["id"], first["id"]]
        assert await ids(currency="USD") == []
        created = datetime.fromisoformat(second["created_at"])
        assert await ids(created_after=created.isoformat()) == [second["id"]]
        assert await ids(created_before=created.isoformat()) == [first["id"]]
        later = (created + timedelta(hours=2)).astimezone(timezone_plus_2()).isoformat()
        assert await ids(created_before=later, status="paid") == [second["id"]]


def timezone_plus_2() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"created_after": "2026-12-01T10:00:00"}, "created_after"),
        ({"status": "almost"}, "status"),
        ({"currency": "aed"}, "currency"),
        # Issue 19 section 5: PostgreSQL refused the NUL, answered 500 or 503 database-unavailable.
        ({"external_id": "a\x00b"}, "external_id"),
        ({"gateway": "json\x00"}, "gateway"),
    ],
)
async def test_a_bad_query_is_a_problem_naming_the_parameter(
    platform: AppFactory, vendor: Vendor, query: dict[str, Any], field: str
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        answer = await client.get("/payments", params=query)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "invalid-request"
        assert answer.json()["field"] == field


async def test_payments_are_found_by_their_metadata(platform: AppFactory, vendor: Vendor) -> None:
    """Issue 19 section 5: clients could not filter by a metadata value (the console could).
    ``metadata[<key>]=<value>`` keeps the payments whose metadata has that value under that
    key; several filters all hold."""
    async with platform({"json": json_gateway(vendor)}) as client:
        first = await start(client, metadata={"order_id": "A-1", "shop.region:eu": "north"})
        second = await start(client, metadata={"order_id": "A-1", "shop.region:eu": 'süd "2"'})
        third = await start(client, metadata={"order_id": "A-10"})
        await start(client)

        async def ids(query: dict[str, str]) -> list[str]:
            answer = await client.get("/payments", params=query)
            assert answer.status_code == 200, answer.text
            return [p["id"] for p in answer.json()["payments"]]

        assert await ids({"metadata[order_id]": "A-1"}) == [second["id"], first["id"]]
        assert await ids({"metadata[order_id]": "A-10"}) == [third["id"]]
        both = {"metadata[order_id]": "A-1", "metadata[shop.region:eu]": 'süd "2"'}
        assert await ids(both) == [second["id"]]
        assert await ids({"metadata[order_id]": "A-1", "currency": "USD"}) == []
        assert await ids({"metadata[order_id]": ""}) == []
        assert await ids({"metadata[missing]": "A-1"}) == []
        pages = await every_page(client, 1, None, **{"metadata[order_id]": "A-1"})
        assert [[p["id"] for p in page] for page in pages] == [[second["id"]], [first["id"]]]
        document = (await client.get("/schema/openapi.json")).json()
        [documented] = [
            parameter
            for parameter in document["paths"]["/payments"]["get"]["parameters"]
            if parameter["name"] == "metadata"
        ]
        assert (documented["in"], documented["style"], documented["explode"]) == (
            "query",
            "deepObject",
            True,
        )
        assert documented["schema"]["maxProperties"] == 10


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"metadata[has space]": "v"}, "metadata[has space]"),
        ({"metadata[]": "v"}, "metadata[]"),
        ({"metadata[" + "k" * 41 + "]": "v"}, "metadata[" + "k" * 41 + "]"),
        ({"metadata[note]": "v" * 501}, "metadata[note]"),
        ({"metadata[note]": "a\x00b"}, "metadata[note]"),
        ({"metadata[note": "v"}, "metadata[note"),
        ({"metadata[a][b]": "v"}, "metadata[a][b]"),
        ({"metadata": "order_id"}, "metadata"),
        ({f"metadata[k{n}]": "v" for n in range(11)}, "metadata"),
    ],
)
async def test_a_bad_metadata_filter_is_a_problem_naming_it(
    platform: AppFactory, vendor: Vendor, query: dict[str, str], field: str
) -> None:
    """Issue 19 section 5: a metadata filter is checked as metadata is (keys, value length, no
    NUL), and at most ten are taken."""
    async with platform({"json": json_gateway(vendor)}) as client:
        answer = await client.get("/payments", params=query)
        assert answer.status_code == 422, answer.text
        assert (answer.json()["code"], answer.json()["field"]) == ("invalid-request", field)


async def test_a_metadata_filter_given_twice_is_a_problem(
    platform: AppFactory, vendor: Vendor
) -> None:
    """Issue 19 section 5: two values for one key would match nothing; say so instead."""
    async with platform({"json": json_gateway(vendor)}) as client:
        answer = await client.get("/payments?metadata[k]=a&metadata%5Bk%5D=b")
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "metadata[k]"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"created_after": "0001-01-01T00:00:00+01:00"}, "created_after"),
        ({"created_before": "9999-12-31T23:59:59-01:00"}, "created_before"),
    ],
)
async def test_a_time_whose_utc_value_leaves_the_calendar_is_a_problem_not_a_500(
    platform: AppFactory, vendor: Vendor, query: dict[str, Any], field: str
) -> None:
    """Issue 19 section 5: a valid RFC 3339 time whose UTC value falls before year 1 or after
    9999 answered 500 (an OverflowError)."""
    async with platform({"json": json_gateway(vendor)}) as client:
        answer = await client.get("/payments", params=query)
        assert answer.status_code == 422, answer.text
        assert (answer.json()["code"], answer.json()["field"]) == ("invalid-request", field)


async def test_a_merchant_lists_only_its_own_payments(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": signed_gateway(vendor)}, security=KEYS) as client:
        mine = await client.post(
            "/init-payment",
            json={"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 100},
            headers=as_merchant(ALICE),
        )
        listed = await client.get("/payments", headers=as_merchant(ALICE))
        assert [p["id"] for p in listed.json()["payments"]] == [mine.json()["id"]]
        assert (await client.get("/payments", headers=as_merchant(BOB))).json() == {
            "payments": [],
            "next_cursor": None,
        }
        assert (await client.get("/payments")).status_code == 401


async def test_a_cursor_never_reaches_another_merchants_payments(
    platform: AppFactory, vendor: Vendor
) -> None:
    """Issue 19 section 5: a cursor names a payment of the merchant it was given to; sent by
    another merchant it is refused, and a position past another's payments still lists only
    the caller's own."""
    async with platform({"json": signed_gateway(vendor)}, security=KEYS) as client:

        async def create(key: str) -> str:
            body = {"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 100}
            answer = await client.post("/init-payment", json=body, headers=as_merchant(key))
            assert answer.status_code == 201, answer.text
            created: str = answer.json()["id"]
            return created

        bobs = [await create(BOB)]
        alices = [await create(ALICE) for _ in range(3)]
        page = await client.get("/payments", params={"limit": 1}, headers=as_merchant(ALICE))
        cursor = page.json()["next_cursor"]
        refused = await client.get(
            "/payments", params={"limit": 1, "cursor": cursor}, headers=as_merchant(BOB)
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "cursor"
        # Below the seal: Bob's listing after the position of Alice's newest payment.
        alices_newest = runtime_of(client).cursors.open(cursor, "alice")
        below = await reads.list_payments(
            runtime_of(client).deps,
            merchant="bob",
            filters=PaymentFilter(),
            after=alices_newest,
        )
        assert [str(payment.client_id) for payment in below.payments] == bobs
        rest = await client.get("/payments", params={"cursor": cursor}, headers=as_merchant(ALICE))
        assert [p["id"] for p in rest.json()["payments"]] == alices[-2::-1]


async def test_a_cursor_the_service_never_gave_is_refused_naming_it(
    platform: AppFactory, vendor: Vendor
) -> None:
    """Issue 19 section 5: any 46 hex digits were taken as a cursor (a random one, or a real
    one with a digit changed), though the API promises a 422 for a cursor it never gave; one
    from before cursors were sealed gets that 422 too, not a 500."""
    async with platform({"json": json_gateway(vendor)}) as client:
        for _ in range(3):
            await start(client)
        cursor = (await client.get("/payments", params={"limit": 1})).json()["next_cursor"]
        edited = cursor[:20] + ("B" if cursor[20] == "A" else "A") + cursor[21:]
        unsealed_form = "00063a9b1c2d3e" + uuid.uuid4().hex
        for refused in [edited, unsealed_form, "A" * len(cursor)]:
            answer = await client.get("/payments", params={"limit": 1, "cursor": refused})
            assert answer.status_code == 422, (refused, answer.text)
            assert (answer.json()["code"], answer.json()["field"]) == ("invalid-request", "cursor")
            assert "list again without a cursor" in answer.json()["detail"]
        taken = await client.get("/payments", params={"limit": 1, "cursor": cursor})
        assert taken.status_code == 200, taken.text


async def test_every_process_of_a_deployment_takes_the_cursors_of_the_others(
    platform: AppFactory, vendor: Vendor
) -> None:
    """Issue 19 section 5: the cursors' key comes from the configuration every process reads,
    so a client's next page may be served by another process, or after a restart."""
    async with platform({"json": signed_gateway(vendor)}, security=KEYS) as one:
        for _ in range(2):
            body = {"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 100}
            await one.post("/init-payment", json=body, headers=as_merchant(ALICE))
        first = await one.get("/payments", params={"limit": 1}, headers=as_merchant(ALICE))
        cursor = first.json()["next_cursor"]
        async with platform({"json": signed_gateway(vendor)}, security=KEYS) as two:
            second = await two.get(
                "/payments", params={"limit": 1, "cursor": cursor}, headers=as_merchant(ALICE)
            )
            assert second.status_code == 200, second.text
            assert second.json()["payments"][0]["id"] != first.json()["payments"][0]["id"]


async def test_paging_through_10000_payments_while_more_are_created_skips_and_repeats_none(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        runtime = runtime_of(client)
        start_time = datetime.now(UTC) - timedelta(days=1)
        stored: set[str] = set()

        def store(conn: sa.Connection) -> None:
            for n in range(10_000):
                client_id = uuid.uuid4()
                stored.add(str(client_id))
                payments.insert(
                    conn,
                    payment_id=client_id,
                    merchant=None,
                    client_id=client_id,
                    currency="AED",
                    amount_minor=100,
                    metadata={},
                    description=None,
                    # Many share a creation time: ties are ordered by id.
                    now=start_time + timedelta(milliseconds=n // 3),
                )

        await runtime.database.write(store)
        created: list[dict[str, Any]] = []

        async def two_more() -> None:
            created.extend(await asyncio.gather(start(client), start(client)))

        pages = await every_page(client, limit=100, between_pages=two_more)
        seen = [payment["id"] for page in pages for payment in page]
        assert len(seen) == len(set(seen))
        assert stored <= set(seen)
        assert len(created) == 2 * (len(pages) - 1) >= 198
        # Only the payments created before the first page was read can be on any page.
        assert not {p["id"] for p in created} & set(seen)
