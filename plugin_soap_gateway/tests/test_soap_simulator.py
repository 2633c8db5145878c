"""The vendor simulator served for real, driven through the SOAP gateway and its control API."""

from __future__ import annotations

import io
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from lxml import etree
from payments_plugin_soap_gateway.gateway import SoapGateway
from payments_plugin_soap_gateway.plugin import simulator_settings
from payments_plugin_soap_gateway.service import ZEEP_SETTINGS, OfflineTransport
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugin_soap_gateway.simulator import SoapVendorSimulator
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
    GatewayResources,
    GatewayUnavailable,
    InitiateRequest,
    RedirectAction,
    RefundRequest,
    RefundStatusQuery,
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
from payments_plugins.testing.payer import page_form, walk_payment_page
from pytest_httpserver import HTTPServer
from zeep.wsdl import Document

PLACEHOLDER_URL = "http://simulator.invalid"


def settings_for(url: str, **overrides: Any) -> SoapGatewaySettings:
    return SoapGatewaySettings(**(simulator_settings(url) | overrides))


def amount(text: str, currency: str = "AED") -> Amount:
    return Amount.parse(f"{text} {currency}")


def initiate_request(text: str = "100.00", currency: str = "AED") -> InitiateRequest:
    return InitiateRequest(payment_id=uuid.uuid4(), amount=amount(text, currency))


def refund_request(payment: InitiateRequest, external_id: str, text: str) -> RefundRequest:
    return RefundRequest(
        refund_id=uuid.uuid4(),
        payment_id=payment.payment_id,
        external_id=external_id,
        amount=amount(text, payment.amount.currency),
    )


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    """One simulator for the module: every test uses its own payment ids and amounts."""
    options = SimulatorOptions(settings=settings_for(PLACEHOLDER_URL))
    with serve_asgi(SoapVendorSimulator(options, timeout_seconds=10)) as url:
        yield url


@pytest.fixture
async def control(simulator_url: str, tls: ssl.SSLContext) -> AsyncIterator[SimulatorControl]:
    """The simulator's control API; behaviours and down mode are undone after each test."""
    async with SimulatorControl.served_at(simulator_url, verify=tls) as control:
        yield control
        await control.reset()


@pytest.fixture
def gateway(simulator_url: str, resources: GatewayResources) -> SoapGateway:
    return SoapGateway(settings_for(simulator_url, read_timeout=5), resources)


async def test_a_usd_payment_goes_from_initiate_to_paid_to_refunded_paying_out_once(
    gateway: SoapGateway, control: SimulatorControl
):
    request = initiate_request("999.99", "USD")
    calls_before = await control.calls()

    external_id = (await gateway.initiate(request)).external_id
    by_id = StatusQuery(payment_id=request.payment_id, external_id=external_id)
    by_reference = StatusQuery(payment_id=request.payment_id)
    initiated = StatusReport(status=VendorPaymentStatus.INITIATED, external_id=external_id)
    assert await gateway.fetch_status(by_id) == initiated
    assert await gateway.fetch_status(by_reference) == initiated

    assert (await control.set_status(external_id, "paid"))["webhook"] is None
    assert await gateway.fetch_status(by_id) == StatusReport(
        status=VendorPaymentStatus.PAID, external_id=external_id
    )

    part = refund_request(request, external_id, "400.00")
    first = await gateway.refund(part)
    assert await gateway.refund(part) == first
    rest = await gateway.refund(refund_request(request, external_id, "599.99"))
    assert rest.external_refund_id != first.external_refund_id
    with pytest.raises(GatewayDeclined) as declined:
        await gateway.refund(refund_request(request, external_id, "0.01"))
    assert declined.value.vendor_code == "amount_exceeds_refundable"

    found = await gateway.fetch_refund_status(
        RefundStatusQuery(refund_id=part.refund_id, external_id=external_id)
    )
    assert found.status is VendorRefundStatus.SUCCEEDED
    assert found.external_refund_id == first.external_refund_id

    held = await control.payment_with_reference(str(request.payment_id))
    assert held is not None
    assert held["amount"] == "999.99 USD"
    assert [refund["amount"] for refund in held["refunds"]] == ["400.00 USD", "599.99 USD"]
    calls = await control.calls()
    assert {kind: calls[kind] - calls_before[kind] for kind in calls} == {
        "initiate": 1,
        "refund": 4,
        "status": 4,
        "cancel": 0,
        "capture": 0,
        "void": 0,
    }


async def test_a_refund_of_an_unpaid_payment_is_declined(gateway: SoapGateway):
    request = initiate_request("50.00")
    external_id = (await gateway.initiate(request)).external_id

    with pytest.raises(GatewayDeclined) as declined:
        await gateway.refund(refund_request(request, external_id, "50.00"))

    assert declined.value.vendor_code == "payment_not_paid"


@pytest.mark.parametrize(
    ("action", "code", "soft"),
    [
        (Misbehaviour.DECLINE, "payment_declined", False),
        (Misbehaviour.SOFT_DECLINE, "try_again_later", True),
    ],
)
async def test_the_vendor_says_whether_a_payment_s_decline_is_soft(
    gateway: SoapGateway, control: SimulatorControl, action: Misbehaviour, code: str, soft: bool
):
    await control.misbehave(amount("8.00"), action, "initiate")

    with pytest.raises(GatewayDeclined) as declined:
        await gateway.initiate(initiate_request("8.00"))

    assert (declined.value.vendor_code, declined.value.soft) == (code, soft)


async def test_a_refund_behaviour_applies_to_refunds_of_that_amount_only(
    gateway: SoapGateway, control: SimulatorControl
):
    await control.misbehave(amount("7.00"), Misbehaviour.DECLINE, "refund")
    request = initiate_request("7.00")
    external_id = (await gateway.initiate(request)).external_id
    await control.set_status(external_id, "paid")

    with pytest.raises(GatewayDeclined) as declined:
        await gateway.refund(refund_request(request, external_id, "7.00"))

    assert declined.value.vendor_code == "refund_declined"
    assert (await gateway.refund(refund_request(request, external_id, "6.00"))).external_refund_id


async def test_calls_with_other_credentials_are_refused_before_processing(
    simulator_url: str, resources: GatewayResources, control: SimulatorControl
):
    stranger = SoapGateway(settings_for(simulator_url, password="guessed"), resources)
    request = initiate_request("31.00")

    with pytest.raises(GatewayUnavailable, match="FailedAuthentication"):
        await stranger.initiate(request)

    assert await control.payment_with_reference(str(request.payment_id)) is None


async def test_a_text_password_is_accepted_too(simulator_url: str, resources: GatewayResources):
    gateway = SoapGateway(settings_for(simulator_url, password_type="text"), resources)

    assert (await gateway.initiate(initiate_request("32.00"))).external_id


@pytest.mark.parametrize("path", ["/?wsdl", "/?WSDL", "/service.wsdl"])
async def test_the_wsdl_is_served_with_the_address_it_is_served_at(
    simulator_url: str, http: httpx.AsyncClient, path: str
):
    response = await http.get(simulator_url + path)

    assert response.status_code == 200
    # zeep annotates the transport as a class but needs an instance.
    offline: Any = OfflineTransport()
    document = Document(io.BytesIO(response.content), offline, settings=ZEEP_SETTINGS)
    [port] = document.services["PaymentService"].ports.values()
    assert port.binding_options["address"] == simulator_url


async def test_a_mounted_simulator_serves_the_wsdl_with_its_mount_path():
    simulator = SoapVendorSimulator(SimulatorOptions(settings=settings_for(PLACEHOLDER_URL)))
    transport = httpx.ASGITransport(app=simulator, root_path="/simulators/soap")
    async with httpx.AsyncClient(transport=transport, base_url="http://platform:8080") as client:
        response = await client.get("/simulators/soap/?wsdl")

    addresses = etree.fromstring(response.content).findall(
        ".//{http://schemas.xmlsoap.org/wsdl/soap/}address"
    )
    assert [address.get("location") for address in addresses] == [
        "http://platform:8080/simulators/soap",
        "https://merchant.invalid/external/soap-webhook",
    ]


async def test_a_host_that_strips_its_mount_from_the_path_still_gets_the_mounted_address():
    # Litestar's mounts pass the path below the mount and leave root_path empty.
    simulator = SoapVendorSimulator(SimulatorOptions(settings=settings_for(PLACEHOLDER_URL)))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/simulators/soap/",
        "root_path": "",
        "query_string": b"wsdl",
        "headers": [(b"host", b"payments.example")],
    }
    await simulator(scope, receive, send)

    [address, _] = etree.fromstring(sent[1]["body"]).findall(
        ".//{http://schemas.xmlsoap.org/wsdl/soap/}address"
    )
    assert address.get("location") == "https://payments.example/simulators/soap"


async def test_a_status_change_posts_a_notification_the_gateway_accepts(
    httpserver: HTTPServer, resources: GatewayResources
):
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ack", status=200)
    options = SimulatorOptions(
        settings=settings_for(PLACEHOLDER_URL), webhook_url=httpserver.url_for("/hook")
    )
    with serve_asgi(SoapVendorSimulator(options)) as url:
        gateway = SoapGateway(settings_for(url), resources)
        request = initiate_request("41.00")
        external_id = (await gateway.initiate(request)).external_id
        async with SimulatorControl.served_at(url) as control:
            answer = await control.set_status(external_id, "failed")

    assert answer["payment"]["status"] == "failed"
    assert answer["webhook"]["status_code"] == 200
    assert answer["webhook"]["answer"] == "ack"
    [(received, _)] = httpserver.log
    assert received.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert received.headers["SOAPAction"] == (
        '"urn:soap-vendor:payments:v1#PaymentStatusNotification"'
    )
    event = await gateway.parse_webhook(dict(received.headers), received.get_data())
    assert event == WebhookEvent(
        external_id=external_id, status=VendorPaymentStatus.FAILED, reference=request.payment_id
    )


RETURN_URL = "https://shop.example/back?order=B-2"


@pytest.fixture
def notified_url(httpserver: HTTPServer) -> Iterator[str]:
    """A simulator posting its notifications to ``httpserver``'s ``/hook``."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ack", status=200)
    options = SimulatorOptions(
        settings=settings_for(PLACEHOLDER_URL), webhook_url=httpserver.url_for("/hook")
    )
    with serve_asgi(SoapVendorSimulator(options)) as url:
        yield url


async def test_the_payer_pays_past_3_d_secure_and_lands_on_the_return_url(
    httpserver: HTTPServer, notified_url: str, resources: GatewayResources
):
    gateway = SoapGateway(settings_for(notified_url), resources)
    request = InitiateRequest(
        payment_id=uuid.uuid4(),
        amount=amount("19.99", "USD"),
        return_url=RETURN_URL,
        description="Order B-2 <&> a kettle",
    )

    result = await gateway.initiate(request)

    assert result.next_action == RedirectAction(url=f"{notified_url}/pay/{result.external_id}")
    page = result.next_action.url
    async with httpx.AsyncClient() as payer:
        checkout = await payer.get(page)
        pressed = await payer.post(page, data={"step": "checkout", "action": "pay"})
        challenge = await payer.get(page)
        journey = await walk_payment_page(payer, page)
    assert "Order B-2 &lt;&amp;&gt; a kettle" in checkout.text
    assert "19.99 USD" in checkout.text
    assert pressed.status_code == 303
    assert "3-D Secure" in challenge.text
    form = page_form(page, challenge.text)
    assert form is not None
    assert form.fields == {"step": "3ds", "code": "123456"}
    landed = urlsplit(journey.end)
    assert parse_qs(landed.query) == {"order": ["B-2"], "payment_id": [str(request.payment_id)]}
    [(received, _)] = httpserver.log
    event = await gateway.parse_webhook(dict(received.headers), received.get_data())
    assert (event.external_id, event.status) == (result.external_id, VendorPaymentStatus.PAID)
    report = await gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
    assert report.status is VendorPaymentStatus.PAID


async def test_a_wrong_3_d_secure_code_is_asked_again_and_the_third_fails_the_payment(
    httpserver: HTTPServer, notified_url: str, resources: GatewayResources
):
    gateway = SoapGateway(settings_for(notified_url), resources)
    request = InitiateRequest(
        payment_id=uuid.uuid4(), amount=amount("20.00"), return_url=RETURN_URL
    )
    result = await gateway.initiate(request)
    assert isinstance(result.next_action, RedirectAction)
    page = result.next_action.url

    async with httpx.AsyncClient() as payer:
        await payer.post(page, data={"step": "checkout", "action": "pay"})
        wrong = {"step": "3ds", "action": "pay", "code": "000000"}
        await payer.post(page, data=wrong)
        asked = await payer.get(page)
        await payer.post(page, data=wrong)
        last = await payer.post(page, data=wrong)
        over = await payer.get(page)

    assert "That code is not right. 2 tries left." in asked.text
    assert page_form(page, asked.text) is not None
    assert last.status_code == 303
    assert last.headers["location"].startswith("https://shop.example/back?order=B-2&payment_id=")
    assert "Payment failed" in over.text
    [(received, _)] = httpserver.log
    event = await gateway.parse_webhook(dict(received.headers), received.get_data())
    assert event.status is VendorPaymentStatus.FAILED


async def test_a_cancelled_payment_is_reported_cancelled_and_cancels_again_the_same(
    gateway: SoapGateway, control: SimulatorControl
):
    request = initiate_request("9.00", "USD")
    external_id = (await gateway.initiate(request)).external_id
    cancel = CancelRequest(payment_id=request.payment_id, external_id=external_id)

    assert await gateway.cancel(cancel) == CancelResult()
    assert await gateway.cancel(cancel) == CancelResult()

    report = await gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
    assert report == StatusReport(status=VendorPaymentStatus.CANCELLED, external_id=external_id)
    held = await control.payment_with_reference(str(request.payment_id))
    assert held is not None
    assert held["status"] == "cancelled"


async def test_cancel_of_a_paid_payment_is_declined_and_leaves_it_paid(
    gateway: SoapGateway, control: SimulatorControl
):
    request = initiate_request("10.00")
    external_id = (await gateway.initiate(request)).external_id
    await control.set_status(external_id, "paid")

    with pytest.raises(GatewayDeclined) as declined:
        await gateway.cancel(CancelRequest(payment_id=request.payment_id, external_id=external_id))

    assert declined.value.vendor_code == "payment_already_paid"
    report = await gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
    assert report.status is VendorPaymentStatus.PAID


async def test_cancel_while_the_vendor_is_down_is_unavailable_and_cancels_nothing(
    gateway: SoapGateway, control: SimulatorControl
):
    request = initiate_request("11.00")
    external_id = (await gateway.initiate(request)).external_id
    await control.go_down()

    with pytest.raises(GatewayUnavailable):
        await gateway.cancel(CancelRequest(payment_id=request.payment_id, external_id=external_id))

    await control.come_up()
    report = await gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
    assert report.status is VendorPaymentStatus.INITIATED


async def test_the_vendor_keeps_the_return_url_and_description_it_was_sent(
    gateway: SoapGateway, control: SimulatorControl
):
    request = InitiateRequest(
        payment_id=uuid.uuid4(),
        amount=amount("12.00"),
        return_url=RETURN_URL + "&x=" + "y" * 1500,
        description="d" * 1000,
    )

    await gateway.initiate(request)

    held = await control.payment_with_reference(str(request.payment_id))
    assert held is not None
    assert (held["return_url"], held["description"]) == (request.return_url, "d" * 1000)


async def test_a_manual_payment_is_authorized_captured_in_parts_and_reported_so(
    gateway: SoapGateway, control: SimulatorControl
):
    request = InitiateRequest(
        payment_id=uuid.uuid4(), amount=Amount.parse("100.00 USD"), capture=CaptureMode.MANUAL
    )
    external_id = (await gateway.initiate(request)).external_id
    await control.set_status(external_id, "authorized")
    query = StatusQuery(payment_id=request.payment_id, external_id=external_id)

    held = await gateway.fetch_status(query)
    first = CaptureRequest(
        payment_id=request.payment_id,
        capture_id=uuid.uuid4(),
        external_id=external_id,
        amount=Amount.parse("30.00 USD"),
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
        Amount.parse("100.00 USD"),
        Amount.parse("0.00 USD"),
    )
    assert held.authorization_expires_at is not None
    assert held.authorization_expires_at.tzinfo is not None
    assert (between.status, between.captured) == (
        VendorPaymentStatus.AUTHORIZED,
        Amount.parse("30.00 USD"),
    )
    assert found == CaptureStatusReport(
        status=VendorCaptureStatus.SUCCEEDED, external_capture_id=captured.external_capture_id
    )
    with pytest.raises(GatewayDeclined) as refused:
        await gateway.void(VoidRequest(payment_id=request.payment_id, external_id=external_id))
    assert refused.value.vendor_code == "payment_already_captured"
    await control.expire_authorization(external_id)
    rest = msgspec.structs.replace(first, capture_id=uuid.uuid4(), amount=Amount.parse("70.00 USD"))
    with pytest.raises(AuthorizationExpired):
        await gateway.capture(rest)
    assert (await gateway.fetch_status(query)).status is VendorPaymentStatus.EXPIRED
