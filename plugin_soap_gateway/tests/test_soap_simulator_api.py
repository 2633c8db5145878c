"""The simulator's service called in-process with hand-written envelopes, as when mounted."""

from __future__ import annotations

import asyncio
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


async def test_concurrent_initiates_with_one_reference_create_one_payment(
    vendor: httpx.AsyncClient,
):
    answers = await asyncio.gather(*(initiate(vendor, "3.00", reference="race") for _ in range(20)))

    assert len(set(answers)) == 1
    assert len((await vendor.get("/_simulator/payments")).json()["payments"]) == 1


async def test_concurrent_full_refunds_pay_out_once(vendor: httpx.AsyncClient):
    external_id = await initiate(vendor, "10.00", reference="to-refund")
    await vendor.post(f"/_simulator/payments/{external_id}/status", json={"status": "paid"})

    answers = await asyncio.gather(
        *(
            post(
                vendor,
                call(
                    "Refund",
                    externalId=external_id,
                    amount="10.00",
                    currency="AED",
                    reference=f"rf-{n}",
                ),
            )
            for n in range(10)
        )
    )

    assert sorted(status for status, _ in answers) == [200] + [500] * 9
    [payment] = (await vendor.get("/_simulator/payments")).json()["payments"]
    assert len(payment["refunds"]) == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/nowhere", 404),
        ("PUT", "/", 405),
        ("GET", "/_simulator/down", 405),
    ],
)
async def test_unknown_routes_and_methods_are_refused(
    vendor: httpx.AsyncClient, method: str, path: str, status: int
):
    response = await vendor.request(method, path)

    assert response.status_code == status
    assert "error" in response.json()


async def test_a_body_over_the_limit_is_refused(vendor: httpx.AsyncClient):
    response = await vendor.post("/", content=b"x" * (64 * 1024 + 1))

    assert response.status_code == 413


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/_simulator/behaviours", b'{"amount": "1.00 AED", "action": "error_500"}', 400),
        (
            "/_simulator/behaviours",
            b'{"amount": "1.00 AED", "operation": "any", "action": "explode"}',
            400,
        ),
        (
            "/_simulator/behaviours",
            b'{"amount": "one AED", "operation": "any", "action": "decline"}',
            400,
        ),
        ("/_simulator/payments/nobody/status", b'{"status": "paid"}', 404),
        ("/_simulator/payments/nobody/status", b'{"status": "refunded"}', 400),
    ],
)
async def test_a_control_request_that_is_not_acceptable_is_refused(
    vendor: httpx.AsyncClient, path: str, body: bytes, status: int
):
    response = await vendor.post(path, content=body)

    assert response.status_code == status
    assert response.json()["error"]["message"]


async def test_behaviours_are_listed_and_cleared(vendor: httpx.AsyncClient):
    added = await vendor.post(
        "/_simulator/behaviours",
        json={"amount": "13.00 AED", "operation": "refund", "action": "timeout"},
    )
    cleared = await vendor.delete("/_simulator/behaviours")

    assert added.json() == {
        "behaviours": [{"amount": "13.00 AED", "operation": "refund", "action": "timeout"}]
    }
    assert cleared.json() == {"behaviours": []}


@pytest.mark.parametrize(
    "options",
    [
        SimulatorOptions(settings=SETTINGS, auto_webhook_status="refunded"),
        SimulatorOptions(settings=SETTINGS, auto_webhook_delay=-1),
    ],
)
def test_options_the_simulator_cannot_honour_are_refused(options: SimulatorOptions):
    with pytest.raises(ValueError, match="auto_webhook"):
        SoapVendorSimulator(options)


def test_settings_of_another_gateway_type_are_refused():
    class Other:
        webhook_secret = None

    with pytest.raises(TypeError, match="SoapGatewaySettings"):
        SoapVendorSimulator(SimulatorOptions(settings=Other()))  # type: ignore[arg-type]
