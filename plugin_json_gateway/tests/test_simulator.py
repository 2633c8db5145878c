"""The vendor simulator served for real, driven through the JSON gateway and its control API."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.simulator import JsonVendorSimulator
from payments_plugins import (
    Amount,
    GatewayDeclined,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayResources,
    GatewayUnavailable,
    InitiateRequest,
    RefundRequest,
    RefundStatusQuery,
    RefundStatusReport,
    SimulatorOptions,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    VendorRefundStatus,
    WebhookEvent,
)
from payments_plugins.testing.asgi_server import serve_asgi
from pytest_httpserver import HTTPServer

SECRET = "whsec_simulated_0123"
PLACEHOLDER_URL = "http://simulator.invalid"


def aed(text: str) -> Amount:
    return Amount.parse(f"{text} AED")


def initiate_request(amount: str = "100.00") -> InitiateRequest:
    return InitiateRequest(payment_id=uuid.uuid4(), amount=aed(amount))


def refund_request(payment: InitiateRequest, external_id: str, amount: str) -> RefundRequest:
    return RefundRequest(
        refund_id=uuid.uuid4(),
        payment_id=payment.payment_id,
        external_id=external_id,
        amount=aed(amount),
    )


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    """One simulator for the module: every test uses its own payment ids and amounts."""
    settings = JsonGatewaySettings(base_url=PLACEHOLDER_URL, webhook_secret=SECRET)
    simulator = JsonVendorSimulator(SimulatorOptions(settings=settings), timeout_seconds=10)
    with serve_asgi(simulator) as url:
        yield url


@pytest.fixture
async def control(simulator_url: str, tls: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator's control API; behaviours and down mode are undone after each test."""
    async with httpx.AsyncClient(base_url=f"{simulator_url}/_simulator", verify=tls) as client:
        yield client
        (await client.delete("/behaviours")).raise_for_status()
        (await client.post("/up")).raise_for_status()


@pytest.fixture
def gateway(simulator_url: str, resources: GatewayResources) -> JsonGateway:
    settings = JsonGatewaySettings(base_url=simulator_url, webhook_secret=SECRET, read_timeout=5)
    return JsonGateway(settings, resources)


async def simulated_payments(control: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """What the simulator holds, keyed by our reference."""
    response = await control.get("/payments")
    response.raise_for_status()
    return {payment["reference"]: payment for payment in response.json()["payments"]}


async def misbehave(control: httpx.AsyncClient, amount: str, operation: str, action: str) -> None:
    response = await control.post(
        "/behaviours",
        json={"amount": f"{amount} AED", "operation": operation, "action": action},
    )
    response.raise_for_status()


async def set_status(control: httpx.AsyncClient, external_id: str, status: str) -> dict[str, Any]:
    response = await control.post(f"/payments/{external_id}/status", json={"status": status})
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


async def paid_payment(
    gateway: JsonGateway, control: httpx.AsyncClient
) -> tuple[InitiateRequest, str]:
    request = initiate_request("100.00")
    external_id = (await gateway.initiate(request)).external_id
    await set_status(control, external_id, "paid")
    return request, external_id


async def test_a_payment_goes_from_initiate_to_paid_to_refunded_paying_out_once(
    gateway: JsonGateway, control: httpx.AsyncClient
):
    request = initiate_request("999.99")
    calls_before = (await control.get("/calls")).json()

    external_id = (await gateway.initiate(request)).external_id
    by_id = StatusQuery(payment_id=request.payment_id, external_id=external_id)
    by_reference = StatusQuery(payment_id=request.payment_id)
    initiated = StatusReport(status=VendorPaymentStatus.INITIATED, external_id=external_id)
    assert await gateway.fetch_status(by_id) == initiated
    assert await gateway.fetch_status(by_reference) == initiated

    await set_status(control, external_id, "paid")
    assert await gateway.fetch_status(by_id) == StatusReport(
        status=VendorPaymentStatus.PAID, external_id=external_id
    )

    refund = refund_request(request, external_id, "999.99")
    first = await gateway.refund(refund)
    again = await gateway.refund(refund)

    assert again == first
    calls_after = (await control.get("/calls")).json()
    calls = {name: calls_after[name] - calls_before[name] for name in calls_after}
    assert calls == {"initiate": 1, "refund": 2, "status": 3}
    held = (await simulated_payments(control))[str(request.payment_id)]
    assert held["refunds"] == [
        {
            "id": first.external_refund_id,
            "reference": str(refund.refund_id),
            "payment_id": external_id,
            "amount": "999.99 AED",
        }
    ]
    assert await gateway.fetch_refund_status(
        RefundStatusQuery(refund_id=refund.refund_id, external_id=external_id)
    ) == RefundStatusReport(
        status=VendorRefundStatus.SUCCEEDED, external_refund_id=first.external_refund_id
    )
    assert await gateway.fetch_refund_status(
        RefundStatusQuery(refund_id=uuid.uuid4(), external_id=external_id)
    ) == RefundStatusReport(status=VendorRefundStatus.NOT_FOUND)


async def test_a_repeated_initiate_returns_the_same_payment(
    gateway: JsonGateway, control: httpx.AsyncClient
):
    request = initiate_request()

    first = await gateway.initiate(request)
    again = await gateway.initiate(request)

    assert again == first
    held = [
        payment
        for payment in (await simulated_payments(control)).values()
        if payment["id"] == first.external_id
    ]
    assert held == [
        {
            "id": first.external_id,
            "reference": str(request.payment_id),
            "status": "initiated",
            "amount": "100.00 AED",
            "refunds": [],
        }
    ]


async def test_an_unknown_payment_is_not_found(gateway: JsonGateway):
    unknown = StatusQuery(payment_id=uuid.uuid4())

    assert await gateway.fetch_status(unknown) == StatusReport(status=VendorPaymentStatus.NOT_FOUND)
    with_id = StatusQuery(payment_id=unknown.payment_id, external_id="jsonpay_nope")
    assert (await gateway.fetch_status(with_id)).status is VendorPaymentStatus.NOT_FOUND


@pytest.mark.parametrize(
    ("action", "expected", "recorded"),
    [
        ("unavailable_503", GatewayUnavailable, False),
        ("decline", GatewayDeclined, False),
        ("error_500", GatewayOutcomeUnknown, True),
        ("timeout", GatewayOutcomeUnknown, True),
        ("garbage", GatewayOutcomeUnknown, True),
    ],
)
@pytest.mark.parametrize("operation", ["initiate", "any"])
async def test_an_initiate_behaviour_maps_to_its_error_and_records_or_not(
    simulator_url: str,
    resources: GatewayResources,
    control: httpx.AsyncClient,
    operation: str,
    action: str,
    expected: type[GatewayError],
    recorded: bool,
):
    read_timeout = 0.3 if action == "timeout" else 5.0
    gateway = JsonGateway(
        JsonGatewaySettings(base_url=simulator_url, read_timeout=read_timeout), resources
    )
    await misbehave(control, "13.00", operation, action)
    request = initiate_request("13")

    with pytest.raises(expected) as raised:
        await gateway.initiate(request)

    assert type(raised.value) is expected
    held = await simulated_payments(control)
    assert (str(request.payment_id) in held) is recorded
    status = await gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
    expected_status = VendorPaymentStatus.INITIATED if recorded else VendorPaymentStatus.NOT_FOUND
    assert status.status is expected_status
    # Other amounts are unaffected.
    await gateway.initiate(initiate_request("13.01"))


async def test_a_decline_carries_the_vendor_code(gateway: JsonGateway, control: httpx.AsyncClient):
    await misbehave(control, "42.00", "initiate", "decline")

    with pytest.raises(GatewayDeclined) as raised:
        await gateway.initiate(initiate_request("42"))

    assert raised.value.vendor_code == "payment_declined"


@pytest.mark.parametrize(
    ("action", "expected", "recorded"),
    [
        ("unavailable_503", GatewayUnavailable, False),
        ("decline", GatewayDeclined, False),
        ("error_500", GatewayOutcomeUnknown, True),
        ("timeout", GatewayOutcomeUnknown, True),
        ("garbage", GatewayOutcomeUnknown, True),
    ],
)
async def test_a_refund_behaviour_maps_to_its_error_and_records_or_not(
    simulator_url: str,
    resources: GatewayResources,
    control: httpx.AsyncClient,
    action: str,
    expected: type[GatewayError],
    recorded: bool,
):
    read_timeout = 0.3 if action == "timeout" else 5.0
    gateway = JsonGateway(
        JsonGatewaySettings(base_url=simulator_url, read_timeout=read_timeout), resources
    )
    payment, external_id = await paid_payment(gateway, control)
    await misbehave(control, "13.00", "refund", action)
    refund = refund_request(payment, external_id, "13.00")

    with pytest.raises(expected):
        await gateway.refund(refund)

    refunds = (await simulated_payments(control))[str(payment.payment_id)]["refunds"]
    assert [item["reference"] for item in refunds] == ([str(refund.refund_id)] if recorded else [])
    # A refund behaviour leaves initiates of the same amount alone.
    await gateway.initiate(initiate_request("13.00"))


async def test_clearing_behaviours_restores_normal_answers(
    gateway: JsonGateway, control: httpx.AsyncClient
):
    await misbehave(control, "13.00", "any", "error_500")
    request = initiate_request("13.00")
    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.initiate(request)

    assert (await control.delete("/behaviours")).json() == {"behaviours": []}

    result = await gateway.initiate(request)
    held = await simulated_payments(control)
    assert held[str(request.payment_id)]["id"] == result.external_id


async def test_down_mode_makes_every_call_unavailable_until_it_comes_back_up(
    gateway: JsonGateway, control: httpx.AsyncClient
):
    payment, external_id = await paid_payment(gateway, control)
    held_before = len(await simulated_payments(control))
    (await control.post("/down")).raise_for_status()

    with pytest.raises(GatewayUnavailable):
        await gateway.initiate(initiate_request())
    with pytest.raises(GatewayUnavailable):
        await gateway.refund(refund_request(payment, external_id, "1.00"))
    with pytest.raises(GatewayUnavailable):
        await gateway.fetch_status(StatusQuery(payment_id=payment.payment_id))

    (await control.post("/up")).raise_for_status()

    assert len(await simulated_payments(control)) == held_before
    await gateway.refund(refund_request(payment, external_id, "1.00"))


async def test_refunds_never_exceed_what_was_paid(gateway: JsonGateway, control: httpx.AsyncClient):
    payment, external_id = await paid_payment(gateway, control)

    await gateway.refund(refund_request(payment, external_id, "60.00"))
    with pytest.raises(GatewayDeclined) as raised:
        await gateway.refund(refund_request(payment, external_id, "40.01"))
    await gateway.refund(refund_request(payment, external_id, "40.00"))

    assert raised.value.vendor_code == "amount_exceeds_refundable"


async def test_only_a_paid_payment_can_be_refunded(gateway: JsonGateway):
    request = initiate_request()
    external_id = (await gateway.initiate(request)).external_id

    with pytest.raises(GatewayDeclined) as raised:
        await gateway.refund(refund_request(request, external_id, "1.00"))

    assert raised.value.vendor_code == "payment_not_paid"


async def test_a_refund_of_an_unknown_payment_is_declined(gateway: JsonGateway):
    with pytest.raises(GatewayDeclined) as raised:
        await gateway.refund(refund_request(initiate_request(), "jsonpay_unknown", "1.00"))

    assert raised.value.vendor_code == "payment_not_found"


@pytest.fixture
def webhook_simulator_url(httpserver: HTTPServer) -> Iterator[str]:
    settings = JsonGatewaySettings(base_url=PLACEHOLDER_URL, webhook_secret=SECRET)
    options = SimulatorOptions(settings=settings, webhook_url=httpserver.url_for("/hooks/json"))
    with serve_asgi(JsonVendorSimulator(options)) as url:
        yield url


async def test_a_status_change_posts_a_signed_webhook_the_gateway_accepts(
    httpserver: HTTPServer, webhook_simulator_url: str, resources: GatewayResources, tls
):
    httpserver.expect_oneshot_request("/hooks/json", method="POST").respond_with_data("", 202)
    settings = JsonGatewaySettings(base_url=webhook_simulator_url, webhook_secret=SECRET)
    gateway = JsonGateway(settings, resources)
    external_id = (await gateway.initiate(initiate_request())).external_id

    async with httpx.AsyncClient(
        base_url=f"{webhook_simulator_url}/_simulator", verify=tls
    ) as control:
        answer = await set_status(control, external_id, "failed")

    assert answer["webhook"]["status_code"] == 202
    assert answer["webhook"]["body"] == {"external_id": external_id, "status": "failed"}
    [(received, _)] = httpserver.log
    event = await gateway.parse_webhook(dict(received.headers), received.get_data())
    assert event == WebhookEvent(external_id=external_id, status=VendorPaymentStatus.FAILED)
    other = JsonGatewaySettings(base_url=webhook_simulator_url, webhook_secret="not-" + SECRET)
    with pytest.raises(Exception, match="does not match"):
        await JsonGateway(other, resources).parse_webhook(
            dict(received.headers), received.get_data()
        )


async def test_a_failed_webhook_delivery_is_reported_in_the_control_answer(
    webhook_simulator_url: str, resources: GatewayResources, httpserver: HTTPServer, tls
):
    httpserver.expect_oneshot_request("/hooks/json").respond_with_data("nope", 500)
    gateway = JsonGateway(JsonGatewaySettings(base_url=webhook_simulator_url), resources)
    external_id = (await gateway.initiate(initiate_request())).external_id

    async with httpx.AsyncClient(
        base_url=f"{webhook_simulator_url}/_simulator", verify=tls
    ) as control:
        answer = await set_status(control, external_id, "paid")

    assert answer["payment"]["status"] == "paid"
    assert answer["webhook"]["status_code"] == 500


async def test_the_simulator_posts_the_automatic_status_for_each_accepted_payment(
    httpserver: HTTPServer, resources: GatewayResources
):
    httpserver.expect_oneshot_request("/hooks/json").respond_with_data("", 200)
    settings = JsonGatewaySettings(base_url=PLACEHOLDER_URL)
    options = SimulatorOptions(
        settings=settings,
        webhook_url=httpserver.url_for("/hooks/json"),
        auto_webhook_status="paid",
        auto_webhook_delay=0.0,
    )
    with serve_asgi(JsonVendorSimulator(options)) as url:
        gateway = JsonGateway(JsonGatewaySettings(base_url=url), resources)
        request = initiate_request()
        with httpserver.wait(timeout=5) as waiting:
            external_id = (await gateway.initiate(request)).external_id
        assert waiting.result, "the automatic webhook never arrived"

        report = await gateway.fetch_status(StatusQuery(payment_id=request.payment_id))

    [(received, _)] = httpserver.log
    event = await gateway.parse_webhook(dict(received.headers), received.get_data())
    assert event == WebhookEvent(external_id=external_id, status=VendorPaymentStatus.PAID)
    assert report == StatusReport(status=VendorPaymentStatus.PAID, external_id=external_id)


async def test_with_the_payer_paying_at_once_a_payment_is_paid_and_refundable_without_a_webhook(
    resources: GatewayResources, httpserver: HTTPServer
):
    settings = JsonGatewaySettings(base_url=PLACEHOLDER_URL)
    options = SimulatorOptions(
        settings=settings, webhook_url=httpserver.url_for("/hook"), payer_pays_at_once=True
    )
    with serve_asgi(JsonVendorSimulator(options)) as url:
        gateway = JsonGateway(JsonGatewaySettings(base_url=url), resources)
        request = initiate_request("12.00")
        accepted = await gateway.initiate(request)
        status = await gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
        assert status.status is VendorPaymentStatus.PAID
        refund = await gateway.refund(refund_request(request, accepted.external_id, "12.00"))
        assert refund.external_refund_id
    assert httpserver.log == []
