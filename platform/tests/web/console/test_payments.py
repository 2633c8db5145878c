"""Finding payments in the console (``web/console/payments``): by any id they are known by, by
what the listing filters on (merchant and metadata included, for operators), newest first and
a page at a time; and a payment's page, with its whole story and the gateway asked now."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid

import pytest
from console_app import ConsoleFactory, store_payment
from payments_platform.lifecycle import PaymentStatus
from payments_platform.records import utc_now
from payments_platform.store import payments
from payments_platform.usecases import initiate
from payments_plugins import (
    Amount,
    CancelResult,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    InitiateResult,
    RedirectAction,
    VendorPaymentStatus,
)
from scripted import accepted, new_script, vendor_says


def _listed(page: str) -> list[str]:
    return re.findall(r'<tr data-payment="([^"]+)">', page)


async def test_an_id_opens_the_payment_it_names_as_the_platform_or_its_client_knows_it(
    open_console: ConsoleFactory,
) -> None:
    shared = uuid.uuid4()
    async with open_console() as console:
        await console.sign_in()
        shop = await store_payment(console, client_id=shared, merchant="shop")
        other = await store_payment(console, client_id=shared, merchant="other-shop", minutes=1)
        lone = await store_payment(console, merchant="shop")
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
        wanted = await store_payment(
            console, merchant="shop", status=PaymentStatus.PAID, metadata={"order": "A-1"}
        )
        await store_payment(
            console, merchant="shop", status=PaymentStatus.PAID, metadata={"order": "B-2"}
        )
        await store_payment(console, merchant="other-shop", metadata={"order": "A-1"})
        usd = await store_payment(console, currency="USD", minutes=30)

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
        stored = [
            await store_payment(console, minutes=minute, currency="USD") for minute in range(55)
        ]
        await store_payment(console, minutes=60, currency="AED")  # not in the search

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


async def test_a_payments_page_tells_its_whole_story(open_console: ConsoleFactory) -> None:
    json_name, json_script = new_script()
    soap_name, soap_script = new_script()
    json_script.fail("initiate", GatewayUnavailable("<script>alert('x')</script> refused"))
    soap_script.answer("initiate", accepted("soap-1"))
    async with open_console({"json": json_name, "soap": soap_name}, clock=utc_now) as console:
        payment_id = uuid.uuid4()
        await initiate.start_payment(console.runtime.deps, payment_id, Amount(999, "AED"))
        await console.sign_in()

        page = (await console.get(f"/console/payments/{payment_id}")).text

    kinds = re.findall(r'data-kind="([a-z]+)"', page)
    assert kinds == ["status", "routing", "attempt", "attempt", "status", "job"]
    assert "payment created: pending" in page
    assert "at json: unavailable" in page
    assert "at soap: accepted" in page
    assert "9.99 AED" in page
    assert "status pending → initiated" in html.unescape(page)
    # The candidates of the routing decision, each with its breaker.
    assert re.search(r"<td>json</td>\s*<td[^>]*>1</td>", page)
    # Whatever a vendor's error says is shown as text, never run.
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page


async def test_a_payment_nobody_has_is_a_page_saying_so(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        await console.sign_in()
        answer = await console.get(f"/console/payments/{uuid.uuid4()}")

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")


async def test_asking_the_gateway_now_from_a_payments_page(open_console: ConsoleFactory) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayOutcomeUnknown("read timeout"))
    script.answer("status", vendor_says(VendorPaymentStatus.PAID, "ext-1"))
    async with open_console({"gw": name}) as console:
        payment_id = uuid.uuid4()
        await initiate.start_payment(console.runtime.deps, payment_id, Amount(100, "AED"))
        await console.sign_in()
        before = (await console.get(f"/console/payments/{payment_id}")).text
        assert "Ask gw now" in before

        answer = await console.act(f"/console/payments/{payment_id}/reconcile")
        after = (await console.get(answer.headers["location"])).text

    assert answer.headers["location"] == f"/console/payments/{payment_id}?notice=answered"
    assert "The gateway answered" in after
    assert "data-status>paid<" in after
    assert "operator alice: reconcile" in after
    assert "alice asked gw what became of the payment" in after
    assert "Ask gw now" not in after


async def test_a_payment_s_page_shows_the_payer_s_next_action_and_cancels_it(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script(capable=True)
    page_url = "https://vendor.example/pay/ext-9?step=<b>"
    script.answer(
        "initiate", InitiateResult(external_id="ext-9", next_action=RedirectAction(url=page_url))
    )
    script.answer("cancel", CancelResult())
    async with open_console({"gw": name}) as console:
        payment_id = uuid.uuid4()
        await initiate.start_payment(console.runtime.deps, payment_id, Amount(100, "AED"))
        await console.sign_in()
        before = (await console.get(f"/console/payments/{payment_id}")).text
        answer = await console.act(f"/console/payments/{payment_id}/cancel")
        after = (await console.get(answer.headers["location"])).text

    assert 'data-next-action="redirect"' in before
    assert f"GET {html.escape(page_url)}" in before
    assert "Cancel the payment" in before
    assert answer.headers["location"] == f"/console/payments/{payment_id}?notice=cancelled"
    assert "data-status>cancelled<" in after
    assert "data-next-action" not in after
    assert "Cancel the payment" not in after
    assert "alice cancelled the payment" in after
    assert len(script.calls["cancel"]) == 1


async def test_payments_are_found_by_their_description_and_by_amount(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        await console.sign_in()
        lamp = await store_payment(console, description="Desk LAMP, order 100%", amount_minor=1250)
        chair = await store_payment(
            console, description="Chair, order 1000", amount_minor=5000, minutes=1
        )
        yen = await store_payment(console, currency="JPY", amount_minor=1250, minutes=2)
        kwd = await store_payment(console, currency="KWD", amount_minor=12500, minutes=3)

        by_text = await console.get("/console/payments?description=desk%20lamp")
        by_percent = await console.get("/console/payments", params={"description": "100%"})
        in_dirhams = await console.get(
            "/console/payments?currency=AED&min_amount=12.5&max_amount=12.50"
        )
        dirham_range = await console.get(
            "/console/payments?currency=aed&min_amount=10&max_amount=60"
        )
        in_minor_units = await console.get("/console/payments?min_amount=1250&max_amount=1250")
        in_yen = await console.get("/console/payments?currency=JPY&min_amount=1250")
        in_dinars = await console.get("/console/payments?currency=KWD&max_amount=12.5")

    assert _listed(by_text.text) == [str(lamp)]
    assert _listed(by_percent.text) == [str(lamp)]
    assert _listed(in_dirhams.text) == [str(lamp)]
    assert _listed(dirham_range.text) == [str(chair), str(lamp)]
    assert _listed(in_minor_units.text) == [str(yen), str(lamp)]
    assert _listed(in_yen.text) == [str(yen)]
    assert _listed(in_dinars.text) == [str(kwd)]
    assert 'name="description" value="desk lamp"' in by_text.text


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ({"min_amount": "12.50"}, "amount from '12.50' is not an amount in minor units (1250)"),
        ({"max_amount": "-5"}, "amount to '-5' is not an amount in minor units"),
        ({"max_amount": "9" * 17}, "is not an amount in minor units"),
        ({"currency": "AED", "min_amount": "12.505"}, "write it as 12.50, with at most 2 decimal"),
        ({"currency": "JPY", "min_amount": "12.5"}, "write it as 1250, with no decimal places"),
        ({"currency": "AED", "min_amount": "1e3"}, "'1e3' is not an amount in AED"),
        ({"currency": "AED", "min_amount": "9" * 150}, "is not an amount in AED"),
        ({"min_amount": "9" * 300}, "amount from has 300 characters, more than 200"),
        ({"currency": "XYZ", "min_amount": "1"}, "amount from needs a currency the platform knows"),
        ({"min_amount": "20", "max_amount": "10"}, "the amount from is more than the amount to"),
        ({"description": "lamp\x00"}, "description contains a NUL character"),
        ({"external_id": "\x00"}, "external id contains a NUL character"),
        ({"description": "x" * 201}, "description has 201 characters, more than 200"),
        ({"metadata_key": 'a"b', "metadata_value": "1"}, "metadata key 'a\"b' is not one"),
        ({"created_before": "0001-01-01T00:00+01:00"}, "is not a time"),
        ({"id": "x" * 100}, "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' is not a payment id"),
    ],
)
async def test_hostile_or_mistyped_search_input_is_said_never_a_failure(
    open_console: ConsoleFactory, params: dict[str, str], complaint: str
) -> None:
    async with open_console() as console:
        await console.sign_in()
        await store_payment(console, metadata={"a": "1"}, description="lamp")
        page = await console.get("/console/payments", params=params)
        download = await console.get("/console/payments.csv", params=params)

    assert page.status_code == 200
    assert complaint in html.unescape(page.text)
    assert "<table" not in page.text
    assert download.status_code == 400
    assert download.headers["content-type"].startswith("text/html")
    assert complaint in html.unescape(download.text)


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_every_payment_a_search_finds_downloads_as_csv_page_after_page(
    open_console: ConsoleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("payments_platform.web.console.payments.CSV_PAGE_SIZE", 2)
    async with open_console() as console:
        await console.sign_in()
        found = [
            await store_payment(
                console, merchant="shop", currency="KWD", amount_minor=12345 + m, minutes=m
            )
            for m in range(5)
        ]
        await store_payment(console, merchant="other-shop", currency="KWD", minutes=9)
        hostile = await store_payment(
            console, description='=HYPERLINK("https://evil.example","open")', minutes=10
        )
        page = await console.get("/console/payments?merchant=shop&currency=KWD")
        link = re.search(r'href="(/console/payments\.csv\?[^"]*)"', page.text)
        assert link is not None
        download = await console.get(html.unescape(link[1]))
        everything = await console.get("/console/payments.csv")

    assert html.unescape(link[1]) == "/console/payments.csv?merchant=shop&currency=KWD"
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="payments-\d{8}T\d{6}Z\.csv"',
        download.headers["content-disposition"],
    )
    rows = _csv(download.text)
    assert rows[0] == [
        "id",
        "client_id",
        "merchant",
        "status",
        "amount",
        "currency",
        "captured",
        "refunded",
        "gateway",
        "external_id",
        "description",
        "created_at_utc",
        "updated_at_utc",
    ]
    assert [row[0] for row in rows[1:]] == [str(payment_id) for payment_id in reversed(found)]
    newest = rows[1]
    assert newest[2:8] == ["shop", "pending", "12.349", "KWD", "0.000", "0.000"]
    assert newest[11:] == ["2026-12-01T09:04:00.000000Z", "2026-12-01T09:04:00.000000Z"]
    # A client's description a spreadsheet would run is written as text.
    [written] = [row for row in _csv(everything.text)[1:] if row[0] == str(hostile)]
    assert written[10] == '\'=HYPERLINK("https://evil.example","open")'
    assert len(_csv(everything.text)) == 1 + 7


async def test_a_search_by_id_downloads_the_payments_it_names(
    open_console: ConsoleFactory,
) -> None:
    shared = uuid.uuid4()
    async with open_console() as console:
        await console.sign_in()
        shop = await store_payment(console, client_id=shared, merchant="shop")
        other = await store_payment(console, client_id=shared, merchant="other-shop", minutes=1)
        await store_payment(console, merchant="shop", minutes=2)

        download = await console.get(f"/console/payments.csv?id={shared}")
        nobody = await console.get(f"/console/payments.csv?id={uuid.uuid4()}")

    assert [row[0] for row in _csv(download.text)[1:]] == [str(other), str(shop)]
    assert _csv(nobody.text) == [_csv(download.text)[0]]


async def test_the_payments_csv_needs_a_signed_in_operator(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        await store_payment(console, description="secret order")
        answer = await console.get("/console/payments.csv")

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in?next=")
    assert "secret order" not in answer.text


async def test_a_payment_s_page_at_its_client_s_id_leads_to_the_payment(
    open_console: ConsoleFactory,
) -> None:
    shared = uuid.uuid4()
    async with open_console() as console:
        await console.sign_in()
        lone_client = uuid.uuid4()
        lone = await store_payment(console, client_id=lone_client, merchant="shop")
        await store_payment(console, client_id=shared, merchant="shop")
        await store_payment(console, client_id=shared, merchant="other-shop", minutes=1)

        by_client_id = await console.get(f"/console/payments/{lone_client}")
        shared_by_two = await console.get(f"/console/payments/{shared}")

    assert lone != lone_client  # a merchant's payment is known by an id of the platform's
    assert by_client_id.status_code == 303
    assert by_client_id.headers["location"] == f"/console/payments/{lone}"
    assert shared_by_two.headers["location"] == f"/console/payments?id={shared}"
