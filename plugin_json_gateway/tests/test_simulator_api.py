"""The simulator's vendor API called directly in-process, without lifespan, as when mounted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.simulator import JsonVendorSimulator
from payments_plugins import SimulatorOptions

SETTINGS = JsonGatewaySettings(base_url="http://simulator.invalid")


@pytest.fixture
def simulator() -> JsonVendorSimulator:
    return JsonVendorSimulator(SimulatorOptions(settings=SETTINGS))


@pytest.fixture
async def vendor(simulator: JsonVendorSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=simulator)
    async with httpx.AsyncClient(transport=transport, base_url="http://vendor") as client:
        yield client
    await simulator.aclose()


async def paid(vendor: httpx.AsyncClient, amount: str = "100.00 AED") -> str:
    created = await vendor.post(
        "/initiate-payment", json={"amount": amount, "reference": str(uuid.uuid4())}
    )
    external_id: str = created.json()["id"]
    marked = await vendor.post(
        f"/_simulator/payments/{external_id}/status", json={"status": "paid"}
    )
    assert marked.status_code == 200
    assert marked.json()["webhook"] is None
    return external_id


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/initiate-payment", b"not json", 400, "invalid_request"),
        ("/initiate-payment", b"{}", 400, "invalid_request"),
        ("/initiate-payment", b'{"amount": "1.00 AED"}', 400, "invalid_request"),
        ("/initiate-payment", b'{"amount": "1.00 AED", "reference": ""}', 400, "invalid_request"),
        (
            "/initiate-payment",
            b'{"amount": "1.00 AED", "reference": "r", "tip": "1"}',
            400,
            "invalid_request",
        ),
        ("/initiate-payment", b'{"amount": "1.001 AED", "reference": "r"}', 400, "invalid_amount"),
        ("/initiate-payment", b'{"amount": "-1.00 AED", "reference": "r"}', 400, "invalid_amount"),
        ("/initiate-payment", b'{"amount": "0.00 AED", "reference": "r"}', 400, "invalid_amount"),
        ("/initiate-payment", b'{"amount": 100, "reference": "r"}', 400, "invalid_request"),
        (
            "/initiate-payment",
            b'{"amount": "1.00 USD", "reference": "r"}',
            422,
            "unsupported_currency",
        ),
        ("/refunds", b'{"payment_id": "x", "amount": "1.00 AED"}', 400, "invalid_request"),
        ("/_simulator/behaviours", b'{"amount": "1.00 AED", "action": "error_500"}', 400, None),
        (
            "/_simulator/behaviours",
            b'{"amount": "1.00 AED", "operation": "any", "action": "explode"}',
            400,
            None,
        ),
    ],
)
async def test_a_request_body_that_is_not_acceptable_is_declined_with_the_error_body(
    vendor: httpx.AsyncClient, path: str, body: bytes, status: int, code: str | None
):
    response = await vendor.post(path, content=body)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code


async def test_nothing_is_recorded_from_a_refused_request(vendor: httpx.AsyncClient):
    await vendor.post("/initiate-payment", content=b'{"amount": "1.00 USD", "reference": "r"}')

    assert (await vendor.get("/_simulator/payments")).json() == {"payments": []}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/", 404),
        ("GET", "/initiate-payment", 405),
        ("PUT", "/payments/jsonpay_1", 405),
        ("GET", "/payments", 400),
        ("GET", "/payments?reference=a&reference=b", 400),
    ],
)
async def test_unknown_routes_methods_and_queries_are_refused(
    vendor: httpx.AsyncClient, method: str, path: str, status: int
):
    response = await vendor.request(method, path)

    assert response.status_code == status
    assert "error" in response.json()


async def test_a_reference_reused_for_another_amount_is_a_conflict(vendor: httpx.AsyncClient):
    reference = str(uuid.uuid4())
    await vendor.post("/initiate-payment", json={"amount": "1.00 AED", "reference": reference})

    response = await vendor.post(
        "/initiate-payment", json={"amount": "2.00 AED", "reference": reference}
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "reference_conflict"


async def test_a_refund_reference_reused_for_another_amount_is_a_conflict(
    vendor: httpx.AsyncClient,
):
    external_id = await paid(vendor)
    refund = {"payment_id": external_id, "amount": "1.00 AED", "reference": "rf-1"}
    assert (await vendor.post("/refunds", json=refund)).status_code == 201

    response = await vendor.post("/refunds", json=refund | {"amount": "2.00 AED"})

    assert response.status_code == 409


async def test_a_mounted_simulator_routes_below_its_root_path(simulator: JsonVendorSimulator):
    transport = httpx.ASGITransport(app=simulator, root_path="/vendors/json")
    async with httpx.AsyncClient(transport=transport, base_url="http://platform") as client:
        response = await client.get("/vendors/json/_simulator/calls")

    assert response.json() == {"initiate": 0, "refund": 0, "status": 0}


async def test_concurrent_initiates_with_one_reference_create_one_payment(
    vendor: httpx.AsyncClient,
):
    body = {"amount": "5.00 AED", "reference": str(uuid.uuid4())}

    answers = await asyncio.gather(
        *(vendor.post("/initiate-payment", json=body) for _ in range(20))
    )

    assert len({answer.json()["id"] for answer in answers}) == 1
    assert sorted(answer.status_code for answer in answers) == [200] * 19 + [201]
    assert len((await vendor.get("/_simulator/payments")).json()["payments"]) == 1


async def test_concurrent_full_refunds_pay_out_once(vendor: httpx.AsyncClient):
    external_id = await paid(vendor, "10.00 AED")

    answers = await asyncio.gather(
        *(
            vendor.post(
                "/refunds",
                json={"payment_id": external_id, "amount": "10.00 AED", "reference": f"rf-{n}"},
            )
            for n in range(10)
        )
    )

    assert sorted(answer.status_code for answer in answers) == [201] + [422] * 9
    [payment] = (await vendor.get("/_simulator/payments")).json()["payments"]
    assert len(payment["refunds"]) == 1


@pytest.mark.parametrize(
    "options",
    [
        SimulatorOptions(settings=SETTINGS, auto_webhook_status="refunded"),
        SimulatorOptions(settings=SETTINGS, auto_webhook_delay=-1),
    ],
)
def test_options_the_simulator_cannot_honour_are_refused(options: SimulatorOptions):
    with pytest.raises(ValueError, match="auto_webhook"):
        JsonVendorSimulator(options)


def test_settings_of_another_gateway_type_are_refused():
    class Other:
        webhook_secret = None

    with pytest.raises(TypeError, match="JsonGatewaySettings"):
        JsonVendorSimulator(SimulatorOptions(settings=Other()))  # type: ignore[arg-type]
