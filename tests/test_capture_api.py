"""Authorize now, capture later through the HTTP API, against real SQLite or PostgreSQL and the
JSON vendor's simulator over HTTP: a payment taken with manual capture is authorized by its
payer, captured in parts, voided, refunded only of what was captured; every refusal is a
problem naming why, and the vendor's books match ours."""

from __future__ import annotations

import uuid
from typing import Any

from core_fixtures import WallClock
from litestar.testing import AsyncTestClient

from .conftest import AppFactory, Vendor, runtime_of
from .test_api import assert_problem, init, json_gateway, pay


async def _authorized(client: AsyncTestClient[Any], vendor: Vendor, **body: Any) -> dict[str, Any]:
    """A payment of 999.99 AED taken with manual capture, which its payer authorized."""
    payment_id = str(uuid.uuid4())
    created = await init(client, payment_id, capture="manual", **body)
    assert created.status_code == 201, created.text
    assert created.json()["capture"] == "manual"
    external_id = created.json()["external_id"]
    await vendor.payer_acts(external_id, "authorized")
    notified = await pay(client, external_id, "authorized")
    assert notified.status_code == 200, notified.text
    found = await client.get(f"/payments/{payment_id}")
    payment: dict[str, Any] = found.json()["payment"]
    assert payment["status"] == "authorized"
    return payment


async def _capture(client: AsyncTestClient[Any], payment_id: str, **body: Any):
    return await client.post(f"/payments/{payment_id}/capture", json=body or None)


async def test_an_authorized_payment_is_captured_in_parts_then_refunded_of_what_was_captured(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        payment = await _authorized(client, vendor)
        payment_id = payment["id"]
        assert (payment["authorized_fractions"], payment["captured_fractions"]) == (99999, 0)
        assert payment["refundable_fractions"] == 0
        assert_problem(
            await client.post("/refund", json={"id": payment_id}), 409, "payment-not-refundable"
        )
        capture_id = str(uuid.uuid4())
        first = await _capture(client, payment_id, amount_fractions=40000, capture_id=capture_id)
        assert first.status_code == 200, first.text
        answer = first.json()
        assert answer["ok"] is True
        assert (answer["capture"]["id"], answer["capture"]["status"]) == (capture_id, "succeeded")
        assert answer["payment"]["status"] == "partially_captured"
        assert answer["payment"]["captured_fractions"] == 40000
        repeat = await _capture(client, payment_id, amount_fractions=40000, capture_id=capture_id)
        assert repeat.status_code == 200
        assert repeat.json()["capture"] == answer["capture"]
        reused = await _capture(client, payment_id, amount_fractions=100, capture_id=capture_id)
        assert assert_problem(reused, 409, "capture-id-reused")["field"] == "capture_id"
        too_much = await _capture(client, payment_id, amount_fractions=60000)
        body = assert_problem(too_much, 409, "capture-exceeds-authorization")
        assert body["capturable_fractions"] == 59999
        rest = await _capture(client, payment_id, amount_fractions=20000, final=True)
        assert rest.status_code == 200, rest.text
        paid = rest.json()["payment"]
        assert (paid["status"], paid["captured_fractions"], paid["refundable_fractions"]) == (
            "paid",
            60000,
            60000,
        )
        assert_problem(await _capture(client, payment_id), 409, "payment-not-capturable")
        over = await client.post("/refund", json={"id": payment_id, "amount_fractions": 60001})
        assert_problem(over, 409, "refund-exceeds-balance")
        refunded = await client.post("/refund", json={"id": payment_id})
        assert refunded.status_code == 200, refunded.text
        assert refunded.json()["refund"]["amount_fractions"] == 60000
        assert refunded.json()["payment"]["status"] == "refunded"

        detail = (await client.get(f"/payments/{payment_id}")).json()
        assert [(c["amount_fractions"], c["status"]) for c in detail["captures"]] == [
            (40000, "succeeded"),
            (20000, "succeeded"),
        ]
        (held,) = await vendor.payments()
        assert held["status"] == "paid"
        assert [c["amount"] for c in held["captures"]] == ["400.00 AED", "200.00 AED"]
        assert held["captured"] == "600.00 AED"
        assert (await vendor.calls())["capture"] == 2


async def test_a_capture_without_a_body_takes_all_that_is_authorized(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        payment = await _authorized(client, vendor)
        captured = await client.post(f"/payments/{payment['id']}/capture")
        assert captured.status_code == 200, captured.text
        capture = captured.json()["capture"]
        assert (capture["amount_fractions"], capture["final"]) == (99999, False)
        assert captured.json()["payment"]["status"] == "paid"


async def test_captures_of_payments_that_hold_no_authorization_are_refused(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        automatic = str(uuid.uuid4())
        created = await init(client, automatic)
        assert created.json()["capture"] == "automatic"
        body = assert_problem(await _capture(client, automatic), 409, "payment-not-capturable")
        assert "automatic capture" in body["detail"]
        await pay(client, created.json()["external_id"])
        assert_problem(await _capture(client, automatic), 409, "payment-not-capturable")

        unpaid = str(uuid.uuid4())
        await init(client, unpaid, capture="manual")
        body = assert_problem(await _capture(client, unpaid), 409, "payment-not-capturable")
        assert body["payment_status"] == "initiated"

        cancelled = str(uuid.uuid4())
        await init(client, cancelled, capture="manual")
        assert (await client.post(f"/payments/{cancelled}/cancel")).status_code == 200
        assert_problem(await _capture(client, cancelled), 409, "payment-not-capturable")

        assert_problem(await _capture(client, str(uuid.uuid4())), 404, "payment-not-found")
        bad = await _capture(client, automatic, amount_fractions=-1)
        assert_problem(bad, 422, "invalid-request")
        unknown_field = await _capture(client, automatic, amount=5)
        assert_problem(unknown_field, 422, "invalid-request")
        assert (await vendor.calls()).get("capture", 0) == 0


async def test_cancel_voids_an_authorization_and_not_one_captured_of(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        payment = await _authorized(client, vendor)
        voided = await client.post(f"/payments/{payment['id']}/cancel")
        assert voided.status_code == 200, voided.text
        assert voided.json()["status"] == "voided"
        again = await client.post(f"/payments/{payment['id']}/cancel")
        assert (again.status_code, again.json()["status"]) == (200, "voided")
        assert_problem(await _capture(client, payment["id"]), 409, "payment-not-capturable")
        held = {p["id"]: p for p in await vendor.payments()}
        assert held[payment["external_id"]]["status"] == "voided"

        captured = await _authorized(client, vendor)
        await _capture(client, captured["id"], amount_fractions=100)
        refused = await client.post(f"/payments/{captured['id']}/cancel")
        body = assert_problem(refused, 409, "payment-not-cancellable")
        assert body["payment_status"] == "partially_captured"
        assert (await vendor.calls())["void"] == 1


async def test_an_authorization_that_lapsed_ends_expired_and_is_captured_no_more(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        payment = await _authorized(client, vendor)
        await vendor._control("POST", f"payments/{payment['external_id']}/expire-authorization")
        declined = await _capture(client, payment["id"], amount_fractions=100)
        assert_problem(declined, 402, "capture-declined")
        await runtime_of(client).worker().run_once()  # the vendor is asked: it lapsed
        found = (await client.get(f"/payments/{payment['id']}")).json()["payment"]
        assert (found["status"], found["captured_fractions"]) == ("expired", 0)
        assert_problem(await _capture(client, payment["id"]), 409, "payment-not-capturable")


async def test_a_capture_whose_outcome_is_unknown_is_reconciled_once(
    platform: AppFactory, vendor: Vendor, wall_clock: WallClock
) -> None:
    async with platform({"json": json_gateway(vendor)}, wall_clock=wall_clock) as client:
        payment = await _authorized(client, vendor)
        await vendor.misbehave("5.00 AED", "error_500", operation="capture")
        sent = await _capture(client, payment["id"], amount_fractions=500)
        assert sent.status_code == 202, sent.text
        assert (sent.json()["ok"], sent.json()["capture"]["status"]) == (False, "pending")
        assert sent.json()["payment"]["captured_fractions"] == 0
        runtime = runtime_of(client)
        wall_clock.advance(2)
        await runtime.worker().run_once()  # asks the vendor what became of it
        found = (await client.get(f"/payments/{payment['id']}")).json()["payment"]
        assert (found["status"], found["captured_fractions"]) == ("partially_captured", 500)
        assert (await vendor.calls())["capture"] == 1
        (held,) = await vendor.payments()
        assert [c["amount"] for c in held["captures"]] == ["5.00 AED"]


async def test_a_capture_the_gateway_could_not_take_is_a_503_and_may_be_repeated(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        payment = await _authorized(client, vendor)
        capture_id = str(uuid.uuid4())
        await vendor.go_down()
        down = await _capture(client, payment["id"], amount_fractions=300, capture_id=capture_id)
        assert_problem(down, 503, "gateway-unavailable")
        assert down.headers["Retry-After"]
        await vendor.come_up()
        again = await _capture(client, payment["id"], amount_fractions=300, capture_id=capture_id)
        assert again.status_code == 200, again.text
        assert again.json()["payment"]["captured_fractions"] == 300


async def test_a_manual_payment_no_gateway_can_capture_is_a_422_naming_why(
    platform: AppFactory,
) -> None:
    async with platform({"testgw": {"type": "testgw", "settings": {}}}) as client:
        refused = await init(client, str(uuid.uuid4()), currency="EUR", capture="manual")
        body = assert_problem(refused, 422, "manual-capture-not-supported")
        assert "testgw" in body["detail"]
        assert (await client.get("/payments")).json()["payments"] == []
