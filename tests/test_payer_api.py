"""The payer's journey through the HTTP API, against real SQLite or PostgreSQL and the JSON
vendor's simulator over HTTP: the client's return URL is checked and passed on, the vendor's
next action reaches the client in every place it reads a payment, and a payment its payer has
not paid is cancelled."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from .conftest import AppFactory, Vendor
from .test_api import assert_problem, init, json_gateway, pay

RETURN_URL = "https://shop.example/orders/A-1/back"


async def _payment(client: AsyncTestClient[Any], payment_id: str) -> dict[str, Any]:
    found = await client.get(f"/payments/{payment_id}")
    assert found.status_code == 200, found.text
    payment: dict[str, Any] = found.json()["payment"]
    return payment


async def test_the_vendor_s_next_action_reaches_the_client_wherever_it_reads_the_payment(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        payment_id = str(uuid.uuid4())
        created = await init(
            client, payment_id, return_url=RETURN_URL, description="Order A-1: two tickets"
        )
        assert created.status_code == 201, created.text
        answer = created.json()
        action = answer["next_action"]
        assert action["type"] == "redirect"
        assert action["url"].startswith(vendor.base_url + "/")
        assert (action["method"], action["fields"]) == ("GET", {})
        assert answer["return_url"] == RETURN_URL
        held = vendor.simulator.payment(answer["external_id"])
        assert (held.return_url, held.description) == (RETURN_URL, "Order A-1: two tickets")

        assert (await _payment(client, payment_id))["next_action"] == action
        listed = (await client.get("/payments")).json()["payments"]
        assert [(p["id"], p["next_action"]) for p in listed] == [(payment_id, action)]

        await pay(client, answer["external_id"])
        paid = await _payment(client, payment_id)
        assert (paid["status"], paid["next_action"], paid["return_url"]) == (
            "paid",
            None,
            RETURN_URL,
        )


@pytest.mark.parametrize(
    ("return_url", "why"),
    [
        ("javascript:alert(1)", "must be an absolute https URL, not a javascript one"),
        ("/orders/A-1", "must be an absolute https URL, not a relative one"),
        ("https://user:secret@shop.example/back", "must not carry credentials"),
        ("http://shop.example/back", "must be https"),
        ("http://127.0.0.1:8000/back", "http only where the deployment allows it"),
        ("https://shop.example/" + "a" * 2048, "2048"),
        ("https://shop.example/a b", "must not hold spaces"),
    ],
)
async def test_a_return_url_a_payer_must_not_be_sent_to_is_refused_naming_it(
    platform: AppFactory, vendor: Vendor, return_url: str, why: str
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        refused = await init(client, str(uuid.uuid4()), return_url=return_url)
        body = assert_problem(refused, 422, "invalid-request")
        assert "return_url" in body["detail"]
        assert why in body["detail"]
        assert await vendor.payments() == []
        assert (await client.get("/payments")).json()["payments"] == []


async def test_http_on_loopback_is_taken_where_the_deployment_allows_it(
    platform: AppFactory, vendor: Vendor
) -> None:
    allowed = {"payments": {"allow_http_return_url": True}}
    async with platform({"json": json_gateway(vendor)}, **allowed) as client:
        created = await init(client, str(uuid.uuid4()), return_url="http://127.0.0.1:8000/back")
        assert created.status_code == 201, created.text
        refused = await init(client, str(uuid.uuid4()), return_url="http://shop.example/back")
        assert_problem(refused, 422, "invalid-request")


async def test_a_payment_its_payer_has_not_paid_is_cancelled_once_and_a_paid_one_is_not(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        payment_id = str(uuid.uuid4())
        created = (await init(client, payment_id, return_url=RETURN_URL)).json()
        cancelled = await client.post(f"/payments/{payment_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["next_action"] is None
        assert vendor.simulator.payment(created["external_id"]).status == "cancelled"
        again = await client.post(f"/payments/{payment_id}/cancel")
        assert again.status_code == 200, again.text
        assert again.json() == cancelled.json()

        paid_id = str(uuid.uuid4())
        paid = (await init(client, paid_id)).json()
        await pay(client, paid["external_id"])
        refused = await client.post(f"/payments/{paid_id}/cancel")
        body = assert_problem(refused, 409, "payment-not-cancellable")
        assert body["payment_status"] == "paid"
        unknown = await client.post(f"/payments/{uuid.uuid4()}/cancel")
        assert_problem(unknown, 404, "payment-not-found")


async def test_the_openapi_document_says_exactly_what_a_next_action_holds(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        document = (await client.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    view = schemas["PaymentView"]
    assert {"next_action", "return_url"} <= set(view["required"])
    kinds = view["properties"]["next_action"]["oneOf"]
    refs = {kind.get("$ref") for kind in kinds}
    assert refs == {
        "#/components/schemas/RedirectAction",
        "#/components/schemas/DisplayAction",
        None,
    }
    assert {"type": "null"} in kinds
    redirect = schemas["RedirectAction"]
    assert redirect["properties"]["type"]["const"] == "redirect"
    assert redirect["properties"]["method"]["enum"] == ["GET", "POST"]
    assert {"type", "url"} <= set(redirect["required"])
    display = schemas["DisplayAction"]
    assert display["properties"]["type"]["const"] == "display"
    assert {"type", "instructions"} <= set(display["required"])
    body = schemas["InitPaymentBody"]["properties"]["return_url"]
    assert "pattern" in str(body)
