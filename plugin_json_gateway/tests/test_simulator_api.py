"""The simulator's vendor API called directly in-process, without lifespan, as when mounted."""

from __future__ import annotations

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
    ],
)
async def test_a_request_body_that_is_not_acceptable_is_declined_with_the_error_body(
    vendor: httpx.AsyncClient, path: str, body: bytes, status: int, code: str
):
    response = await vendor.post(path, content=body)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"]
    assert error["code"] == code


@pytest.mark.parametrize(
    "path",
    [
        "/payments",
        "/payments?reference=",
        "/payments?reference=a&reference=b",
        "/refunds",
        "/refunds?reference=a&reference=b",
    ],
)
async def test_a_lookup_by_reference_needs_exactly_one_reference(
    vendor: httpx.AsyncClient, path: str
):
    response = await vendor.get(path)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
