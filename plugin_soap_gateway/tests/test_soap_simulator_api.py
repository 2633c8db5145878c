"""The simulator's service called in-process with hand-written envelopes, as when mounted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from lxml import etree
from payments_plugin_soap_gateway.plugin import simulator_settings
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugin_soap_gateway.simulator import SIMULATOR_CREDENTIALS, SoapVendorSimulator
from payments_plugins import SimulatorOptions
from soap_documents import SOAP, VENDOR, digest_token, parse, text_of

SETTINGS = SoapGatewaySettings(**simulator_settings("http://simulator.invalid"))
CREATED = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
USERNAME = SIMULATOR_CREDENTIALS["username"]
PASSWORD = SIMULATOR_CREDENTIALS["password"]


@pytest.fixture
def simulator() -> SoapVendorSimulator:
    return SoapVendorSimulator(SimulatorOptions(settings=SETTINGS), now=CREATED.timestamp)


@pytest.fixture
async def vendor(simulator: SoapVendorSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=simulator)
    async with httpx.AsyncClient(transport=transport, base_url="http://vendor") as client:
        yield client
    await simulator.aclose()


def call(operation: str, *, header: str | None = None, **fields: str) -> bytes:
    """An envelope calling ``operation`` with ``fields``, with a fresh token unless ``header``."""
    if header is None:
        nonce = uuid.uuid4().bytes
        header = digest_token(USERNAME, PASSWORD, created=CREATED, nonce=nonce)
    children = "".join(f"<v:{name}>{value}</v:{name}>" for name, value in fields.items())
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:v="{VENDOR}">'
        f"<soap:Header>{header}</soap:Header><soap:Body>"
        f"<v:{operation}>{children}</v:{operation}></soap:Body></soap:Envelope>"
    ).encode()


async def post(vendor: httpx.AsyncClient, document: bytes) -> tuple[int, etree._Element]:
    response = await vendor.post("/", content=document)
    return response.status_code, parse(response.content)


def fault_of(envelope: etree._Element) -> tuple[str | None, str | None]:
    """The fault code and the vendor's detail code."""
    return (
        text_of(envelope, "soap:Body/soap:Fault/faultcode"),
        text_of(envelope, "soap:Body/soap:Fault/detail/v:FaultDetail/v:code"),
    )


async def initiate(vendor: httpx.AsyncClient, amount: str = "10.00", reference: str = "r-1") -> str:
    status, envelope = await post(
        vendor, call("InitiatePayment", amount=amount, currency="AED", reference=reference)
    )
    assert status == 200
    external_id = text_of(envelope, "soap:Body/v:InitiatePaymentResponse/v:externalId")
    assert external_id is not None
    return external_id


async def test_a_call_answers_a_response_envelope(vendor: httpx.AsyncClient):
    response = await vendor.post(
        "/", content=call("InitiatePayment", amount="10.00", currency="USD", reference="r")
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    external_id = text_of(
        parse(response.content), "soap:Body/v:InitiatePaymentResponse/v:externalId"
    )
    assert external_id is not None
    assert external_id.startswith("soappay_")


TEXT_TOKEN = digest_token(USERNAME, PASSWORD, created=CREATED, nonce=b"", as_text=True)


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (TEXT_TOKEN, True),
        ("", False),
        (digest_token(USERNAME, "guess", created=CREATED, nonce=b"n-1"), False),
        (digest_token("someone", PASSWORD, created=CREATED, nonce=b"n-2"), False),
        (digest_token(USERNAME, "guess", created=CREATED, nonce=b"", as_text=True), False),
    ],
)
async def test_calls_must_carry_the_merchants_credentials(
    vendor: httpx.AsyncClient, header: str, accepted: bool
):
    status, envelope = await post(
        vendor,
        call("InitiatePayment", header=header, amount="1.00", currency="AED", reference="r"),
    )

    if accepted:
        assert status == 200
    else:
        assert status == 500
        assert fault_of(envelope) == ("wsse:FailedAuthentication", None)


async def test_a_replayed_call_is_refused(vendor: httpx.AsyncClient):
    header = digest_token(USERNAME, PASSWORD, created=CREATED, nonce=b"once-only-nonce")
    document = call("InitiatePayment", header=header, amount="1.00", currency="AED", reference="r")

    first, _ = await post(vendor, document)
    again, envelope = await post(vendor, document)

    assert (first, again) == (200, 500)
    assert fault_of(envelope) == ("wsse:FailedAuthentication", None)


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (b"not xml", "invalid_request"),
        (b"<x/>", "invalid_request"),
        (call("Transfer", amount="1.00"), "unknown_operation"),
        (call("InitiatePayment", amount="1.00", currency="AED"), "invalid_request"),
        (call("InitiatePayment", amount="1.001", currency="AED", reference="r"), "invalid_amount"),
        (call("InitiatePayment", amount="-1", currency="AED", reference="r"), "invalid_amount"),
        (call("InitiatePayment", amount="0.00", currency="AED", reference="r"), "invalid_amount"),
        (call("InitiatePayment", amount="1.00", currency="ZZZ", reference="r"), "invalid_amount"),
        (
            call("InitiatePayment", amount="1.00", currency="EUR", reference="r"),
            "unsupported_currency",
        ),
        (call("GetPaymentStatus"), "invalid_request"),
        (call("GetPaymentStatus", externalId="a", reference="b"), "invalid_request"),
        (call("GetPaymentStatus", reference="nobody"), "payment_not_found"),
        (call("GetRefundStatus", reference="nobody"), "refund_not_found"),
        (
            call("Refund", externalId="nobody", amount="1.00", currency="AED", reference="r"),
            "payment_not_found",
        ),
    ],
)
async def test_a_call_the_vendor_cannot_take_is_a_client_fault_with_its_code(
    vendor: httpx.AsyncClient, document: bytes, code: str
):
    status, envelope = await post(vendor, document)

    assert status == 500
    assert fault_of(envelope) == ("soap:Client", code)


async def test_a_reference_reused_for_another_amount_is_a_conflict(vendor: httpx.AsyncClient):
    await initiate(vendor, "1.00", reference="same")

    status, envelope = await post(
        vendor, call("InitiatePayment", amount="2.00", currency="AED", reference="same")
    )

    assert status == 500
    assert fault_of(envelope) == ("soap:Client", "reference_conflict")


async def test_a_refund_in_another_currency_than_the_payment_is_declined(
    vendor: httpx.AsyncClient,
):
    external_id = await initiate(vendor, "5.00", reference="p-usd")
    paid = await vendor.post(f"/_simulator/payments/{external_id}/status", json={"status": "paid"})
    assert paid.status_code == 200

    status, envelope = await post(
        vendor, call("Refund", externalId=external_id, amount="5.00", currency="USD", reference="r")
    )

    assert status == 500
    assert fault_of(envelope) == ("soap:Client", "currency_mismatch")


async def test_a_get_of_the_service_points_at_its_description(vendor: httpx.AsyncClient):
    response = await vendor.get("/")

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "GET /?wsdl for the service description"
