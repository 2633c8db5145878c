"""The vendor simulator served for real, driven through the JSON gateway and its control API."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.simulator import JsonVendorSimulator
from payments_plugins import (
    Amount,
    AuthorizationExpired,
    CancelRequest,
    CancelResult,
    CaptureMode,
    CaptureRequest,
    CaptureStatusQuery,
    CaptureStatusReport,
    GatewayDeclined,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayResources,
    GatewayUnavailable,
    InitiateRequest,
    RedirectAction,
    RefundRequest,
    RefundStatusQuery,
    RefundStatusReport,
    SimulatorOptions,
    StatusQuery,
    StatusReport,
    VendorCaptureStatus,
    VendorPaymentStatus,
    VendorRefundStatus,
    VoidRequest,
    WebhookEvent,
)
from payments_plugins.testing.asgi_server import serve_asgi
from payments_plugins.testing.control import Misbehaviour, SimulatorControl
from payments_plugins.testing.payer import walk_payment_page
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
async def control(simulator_url: str, tls: ssl.SSLContext) -> AsyncIterator[SimulatorControl]:
    """The simulator's control API; behaviours and down mode are undone after each test."""
    async with SimulatorControl.served_at(simulator_url, verify=tls) as control:
        yield control
        await control.reset()


@pytest.fixture
def gateway(simulator_url: str, resources: GatewayResources) -> JsonGateway:
    settings = JsonGatewaySettings(base_url=simulator_url, webhook_secret=SECRET, read_timeout=5)
    return JsonGateway(settings, resources)


async def paid_payment(
    gateway: JsonGateway, control: SimulatorControl
) -> tuple[InitiateRequest, str]:
    request = initiate_request("100.00")
    external_id = (await gateway.initiate(request)).external_id
    await control.set_status(external_id, "paid")
    return request, external_id


async def test_a_payment_goes_from_initiate_to_paid_to_refunded_paying_out_once(
    gateway: JsonGateway, control: SimulatorControl
):
    request = initiate_request("999.99")
    calls_before = await control.calls()

    external_id = (await gateway.initiate(request)).external_id
    by_id = StatusQuery(payment_id=request.payment_id, external_id=external_id)
    by_reference = StatusQuery(payment_id=request.payment_id)
    initiated = StatusReport(status=VendorPaymentStatus.INITIATED, external_id=external_id)
    assert await gateway.fetch_status(by_id) == initiated
    assert await gateway.fetch_status(by_reference) == initiated

    await control.set_status(external_id, "paid")
    assert await gateway.fetch_status(by_id) == StatusReport(
        status=VendorPaymentStatus.PAID, external_id=external_id
    )

    refund = refund_request(request, external_id, "999.99")
    first = await gateway.refund(refund)
    again = await gateway.refund(refund)

    assert again == first
    calls_after = await control.calls()
    calls = {name: calls_after[name] - calls_before[name] for name in calls_after}
    assert calls == {
        "initiate": 1,
        "refund": 2,
        "status": 3,
        "cancel": 0,
        "capture": 0,
        "void": 0,
    }
    held = await control.payment_with_reference(str(request.payment_id))
    assert held is not None
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


async def test_an_unknown_payment_is_not_found(gateway: JsonGateway):
    unknown = StatusQuery(payment_id=uuid.uuid4())

    assert await gateway.fetch_status(unknown) == StatusReport(status=VendorPaymentStatus.NOT_FOUND)
    with_id = StatusQuery(payment_id=unknown.payment_id, external_id="jsonpay_nope")
    assert (await gateway.fetch_status(with_id)).status is VendorPaymentStatus.NOT_FOUND


async def test_a_decline_carries_the_vendor_code(gateway: JsonGateway, control: SimulatorControl):
    await control.misbehave(aed("42.00"), Misbehaviour.DECLINE, "initiate")

    with pytest.raises(GatewayDeclined) as raised:
        await gateway.initiate(initiate_request("42"))

    assert (raised.value.vendor_code, raised.value.soft) == ("payment_declined", False)


async def test_a_soft_decline_carries_the_vendor_s_soft_code(
    gateway: JsonGateway, control: SimulatorControl
):
    await control.misbehave(aed("43.00"), Misbehaviour.SOFT_DECLINE, "initiate")

    with pytest.raises(GatewayDeclined) as raised:
        await gateway.initiate(initiate_request("43"))

    assert (raised.value.vendor_code, raised.value.soft) == ("issuer_unavailable", True)


@pytest.mark.parametrize(
    ("action", "expected", "recorded"),
    [
        (Misbehaviour.UNAVAILABLE, GatewayUnavailable, False),
        (Misbehaviour.DECLINE, GatewayDeclined, False),
        (Misbehaviour.ERROR_AFTER_PROCESSING, GatewayOutcomeUnknown, True),
        (Misbehaviour.TIMEOUT, GatewayOutcomeUnknown, True),
        (Misbehaviour.GARBAGE, GatewayOutcomeUnknown, True),
    ],
)
async def test_a_refund_behaviour_maps_to_its_error_and_records_or_not(
    simulator_url: str,
    resources: GatewayResources,
    control: SimulatorControl,
    action: Misbehaviour,
    expected: type[GatewayError],
    recorded: bool,
):
    read_timeout = 0.3 if action is Misbehaviour.TIMEOUT else 5.0
    gateway = JsonGateway(
        JsonGatewaySettings(base_url=simulator_url, read_timeout=read_timeout), resources
    )
    payment, external_id = await paid_payment(gateway, control)
    await control.misbehave(aed("13.00"), action, "refund")
    refund = refund_request(payment, external_id, "13.00")

    with pytest.raises(expected):
        await gateway.refund(refund)

    held = await control.payment_with_reference(str(payment.payment_id))
    assert held is not None
    refunds = held["refunds"]
    assert [item["reference"] for item in refunds] == ([str(refund.refund_id)] if recorded else [])
    # A refund behaviour leaves initiates of the same amount alone.
    await gateway.initiate(initiate_request("13.00"))


async def test_refunds_never_exceed_what_was_paid(gateway: JsonGateway, control: SimulatorControl):
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
    request = initiate_request()
    external_id = (await gateway.initiate(request)).external_id

    async with SimulatorControl.served_at(webhook_simulator_url, verify=tls) as control:
        answer = await control.set_status(external_id, "failed")

    assert answer["webhook"]["status_code"] == 202
    assert answer["webhook"]["body"] == {
        "external_id": external_id,
        "status": "failed",
        "reference": str(request.payment_id),
    }
    [(received, _)] = httpserver.log
    event = await gateway.parse_webhook(dict(received.headers), received.get_data())
    assert event == WebhookEvent(
        external_id=external_id, status=VendorPaymentStatus.FAILED, reference=request.payment_id
    )
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

    async with SimulatorControl.served_at(webhook_simulator_url, verify=tls) as control:
        answer = await control.set_status(external_id, "paid")

    assert answer["payment"]["status"] == "paid"
    assert answer["webhook"]["status_code"] == 500


RETURN_URL = "https://shop.example/checkout/done?order=A-7"


async def test_the_payer_pays_on_the_vendor_s_page_and_lands_on_the_return_url(
    httpserver: HTTPServer, webhook_simulator_url: str, resources: GatewayResources
):
    httpserver.expect_oneshot_request("/hooks/json", method="POST").respond_with_data("", 200)
    settings = JsonGatewaySettings(base_url=webhook_simulator_url, webhook_secret=SECRET)
    gateway = JsonGateway(settings, resources)
    request = InitiateRequest(
        payment_id=uuid.uuid4(),
        amount=aed("250.00"),
        return_url=RETURN_URL,
        description="Order A-7: a lamp",
    )

    result = await gateway.initiate(request)

    assert result.next_action == RedirectAction(
        url=f"{webhook_simulator_url}/pay/{result.external_id}"
    )
    async with httpx.AsyncClient() as payer:
        page = await payer.get(result.next_action.url)
        journey = await walk_payment_page(payer, result.next_action.url)
    assert "Order A-7: a lamp" in page.text
    assert "250.00 AED" in page.text
    landed = urlsplit(journey.end)
    assert landed._replace(query="").geturl() == "https://shop.example/checkout/done"
    assert parse_qs(landed.query) == {"order": ["A-7"], "payment_id": [str(request.payment_id)]}
    [(received, _)] = httpserver.log
    event = await gateway.parse_webhook(dict(received.headers), received.get_data())
    assert (event.external_id, event.status, event.reference) == (
        result.external_id,
        VendorPaymentStatus.PAID,
        request.payment_id,
    )
    paid = await gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
    assert paid.status is VendorPaymentStatus.PAID


async def test_the_vendor_keeps_the_return_url_and_description_it_was_sent(
    gateway: JsonGateway, control: SimulatorControl
):
    request = InitiateRequest(
        payment_id=uuid.uuid4(),
        amount=aed("3.00"),
        return_url=RETURN_URL,
        description="  <b>bold</b> & more",
    )

    await gateway.initiate(request)

    held = await control.payment_with_reference(str(request.payment_id))
    assert held is not None
    assert (held["return_url"], held["description"]) == (RETURN_URL, "  <b>bold</b> & more")


async def test_a_cancelled_payment_is_reported_cancelled_and_cancels_again_the_same(
    gateway: JsonGateway, control: SimulatorControl
):
    request = initiate_request("7.00")
    external_id = (await gateway.initiate(request)).external_id
    cancel = CancelRequest(payment_id=request.payment_id, external_id=external_id)

    assert await gateway.cancel(cancel) == CancelResult()
    assert await gateway.cancel(cancel) == CancelResult()

    for query in (
        StatusQuery(payment_id=request.payment_id, external_id=external_id),
        StatusQuery(payment_id=request.payment_id),
    ):
        report = await gateway.fetch_status(query)
        assert report == StatusReport(status=VendorPaymentStatus.CANCELLED, external_id=external_id)
    assert (await control.calls())["cancel"] >= 2


async def test_cancel_of_a_paid_payment_is_declined_and_leaves_it_paid(
    gateway: JsonGateway, control: SimulatorControl
):
    payment, external_id = await paid_payment(gateway, control)

    with pytest.raises(GatewayDeclined) as raised:
        await gateway.cancel(CancelRequest(payment_id=payment.payment_id, external_id=external_id))

    assert raised.value.vendor_code == "payment_already_paid"
    report = await gateway.fetch_status(StatusQuery(payment_id=payment.payment_id))
    assert report.status is VendorPaymentStatus.PAID


async def test_cancel_while_the_vendor_is_down_is_unavailable(
    gateway: JsonGateway, control: SimulatorControl
):
    request = initiate_request("8.00")
    external_id = (await gateway.initiate(request)).external_id
    await control.go_down()

    with pytest.raises(GatewayUnavailable):
        await gateway.cancel(CancelRequest(payment_id=request.payment_id, external_id=external_id))

    await control.come_up()
    held = await control.payment_with_reference(str(request.payment_id))
    assert held is not None
    assert held["status"] == "initiated"


async def test_a_manual_payment_is_authorized_captured_in_parts_and_reported_so(
    gateway: JsonGateway, control: SimulatorControl
):
    request = InitiateRequest(
        payment_id=uuid.uuid4(), amount=Amount.parse("100.00 AED"), capture=CaptureMode.MANUAL
    )
    external_id = (await gateway.initiate(request)).external_id
    await control.set_status(external_id, "authorized")
    query = StatusQuery(payment_id=request.payment_id, external_id=external_id)

    held = await gateway.fetch_status(query)
    first = CaptureRequest(
        payment_id=request.payment_id,
        capture_id=uuid.uuid4(),
        external_id=external_id,
        amount=Amount.parse("30.00 AED"),
        final=False,
    )
    captured = await gateway.capture(first)
    between = await gateway.fetch_status(query)
    found = await gateway.fetch_capture_status(
        CaptureStatusQuery(
            payment_id=request.payment_id, capture_id=first.capture_id, external_id=external_id
        )
    )

    assert (held.status, held.authorized, held.captured) == (
        VendorPaymentStatus.AUTHORIZED,
        Amount.parse("100.00 AED"),
        Amount.parse("0.00 AED"),
    )
    assert held.authorization_expires_at is not None
    assert held.authorization_expires_at.tzinfo is not None
    assert (between.status, between.captured) == (
        VendorPaymentStatus.AUTHORIZED,
        Amount.parse("30.00 AED"),
    )
    assert found == CaptureStatusReport(
        status=VendorCaptureStatus.SUCCEEDED, external_capture_id=captured.external_capture_id
    )
    with pytest.raises(GatewayDeclined) as refused:
        await gateway.void(VoidRequest(payment_id=request.payment_id, external_id=external_id))
    assert refused.value.vendor_code == "payment_already_captured"
    await control.expire_authorization(external_id)
    rest = msgspec.structs.replace(first, capture_id=uuid.uuid4(), amount=Amount.parse("70.00 AED"))
    with pytest.raises(AuthorizationExpired):
        await gateway.capture(rest)
    assert (await gateway.fetch_status(query)).status is VendorPaymentStatus.EXPIRED
