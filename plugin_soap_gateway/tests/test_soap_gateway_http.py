"""The SOAP gateway against a scripted vendor: the envelopes it sends, each failure's mapping."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from payments_plugin_soap_gateway.credentials import (
    NonceMemory,
    PasswordType,
    UsernameCredentials,
    verify_username_token,
)
from payments_plugin_soap_gateway.gateway import SoapGateway
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugin_soap_gateway.wire import MAX_DOCUMENT_BYTES
from payments_plugins import (
    Amount,
    CancelRequest,
    CancelResult,
    GatewayDeclined,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayResources,
    GatewayUnavailable,
    InitiateRequest,
    InitiateResult,
    RedirectAction,
    RefundRequest,
    RefundResult,
    RefundStatusQuery,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    VendorRefundStatus,
)
from pytest_httpserver import HTTPServer
from soap_documents import WSSE, fault, fault_detail, parse, text_of, vendor_answer
from werkzeug import Request, Response

PAYMENT_ID = uuid.UUID("0b9f3c1e-5d2a-4c47-9b1e-3f0c2d4e5a6b")
REFUND_ID = uuid.UUID("7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")
INITIATE = InitiateRequest(payment_id=PAYMENT_ID, amount=Amount(99999, "AED"))
REFUND = RefundRequest(
    refund_id=REFUND_ID, payment_id=PAYMENT_ID, external_id="soappay_1", amount=Amount(500, "AED")
)
CANCEL = CancelRequest(payment_id=PAYMENT_ID, external_id="soappay_1")
CREDENTIALS = {"username": "merchant-7", "password": "outbound-secret"}
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
XML = "text/xml; charset=utf-8"


def gateway_for(endpoint: str, resources: GatewayResources, **settings: Any) -> SoapGateway:
    raw = {
        "endpoint": endpoint,
        **CREDENTIALS,
        "webhook_username": "vendor",
        "webhook_password": "inbound-secret",
        **settings,
    }
    return SoapGateway(SoapGatewaySettings(**raw), resources, now=lambda: NOW)


@pytest.fixture
def gateway(httpserver: HTTPServer, resources: GatewayResources) -> SoapGateway:
    return gateway_for(httpserver.url_for("/ws/payments"), resources)


def answer_with(httpserver: HTTPServer, body: bytes, status: int = 200, **kwargs: Any) -> None:
    content_type = kwargs.pop("content_type", XML)
    httpserver.expect_oneshot_request("/ws/payments", method="POST").respond_with_data(
        body, status=status, content_type=content_type, **kwargs
    )


async def call(gateway: SoapGateway, operation: str) -> object:
    """``operation`` of the module's payment, refund or cancel."""
    if operation == "initiate":
        return await gateway.initiate(INITIATE)
    if operation == "refund":
        return await gateway.refund(REFUND)
    return await gateway.cancel(CANCEL)


def sent(httpserver: HTTPServer) -> tuple[Request, Any]:
    [(request, _)] = httpserver.log
    return request, parse(request.get_data())


async def test_initiate_sends_the_documented_envelope_and_returns_the_vendor_id(
    httpserver: HTTPServer, gateway: SoapGateway
):
    answer_with(httpserver, vendor_answer("InitiatePaymentResponse", externalId="soappay_1"))

    result = await gateway.initiate(INITIATE)

    assert result == InitiateResult(external_id="soappay_1")
    request, envelope = sent(httpserver)
    assert request.headers["Content-Type"] == XML
    assert request.headers["SOAPAction"] == '"urn:soap-vendor:payments:v1#InitiatePayment"'
    assert text_of(envelope, "soap:Body/v:InitiatePayment/v:amount") == "999.99"
    assert text_of(envelope, "soap:Body/v:InitiatePayment/v:currency") == "AED"
    assert text_of(envelope, "soap:Body/v:InitiatePayment/v:reference") == str(PAYMENT_ID)


async def test_initiate_sends_the_return_url_and_description_and_returns_the_page(
    httpserver: HTTPServer, gateway: SoapGateway
):
    page = "https://pay.soap-vendor.example/p/soappay_1?a=1&b=2"
    escaped = page.replace("&", "&amp;")
    answer_with(
        httpserver,
        vendor_answer("InitiatePaymentResponse", externalId="soappay_1", redirectUrl=escaped),
    )
    request = InitiateRequest(
        payment_id=PAYMENT_ID,
        amount=Amount(99999, "AED"),
        return_url="https://shop.example/back?order=1&lang=en",
        description="Two <tickets> & a \x00programme",
    )

    result = await gateway.initiate(request)

    assert result == InitiateResult(external_id="soappay_1", next_action=RedirectAction(url=page))
    _, envelope = sent(httpserver)
    call = "soap:Body/v:InitiatePayment/v:"
    assert text_of(envelope, call + "returnUrl") == "https://shop.example/back?order=1&lang=en"
    # What XML cannot carry is replaced, not a reason to refuse the payment.
    assert text_of(envelope, call + "description") == "Two <tickets> & a \ufffdprogramme"


@pytest.mark.parametrize(
    ("description", "sent_text"),
    [(None, None), (" \n", None), ("x" * 1001, "x" * 1000)],
    ids=["none", "blank", "longer than the vendor takes"],
)
async def test_a_description_is_sent_as_the_vendor_takes_it(
    httpserver: HTTPServer, gateway: SoapGateway, description: str | None, sent_text: str | None
):
    answer_with(httpserver, vendor_answer("InitiatePaymentResponse", externalId="soappay_1"))

    result = await gateway.initiate(
        InitiateRequest(payment_id=PAYMENT_ID, amount=Amount(1, "AED"), description=description)
    )

    assert result == InitiateResult(external_id="soappay_1")
    _, envelope = sent(httpserver)
    assert text_of(envelope, "soap:Body/v:InitiatePayment/v:description") == sent_text
    assert text_of(envelope, "soap:Body/v:InitiatePayment/v:returnUrl") is None


@pytest.mark.parametrize(
    "redirect_url",
    [
        "javascript:alert(document.cookie)",
        "/pay/soappay_1",
        "https://user:pw@pay.soap-vendor.example/p",
        "   ",
    ],
)
async def test_a_page_no_payer_can_be_sent_to_is_an_unknown_outcome(
    httpserver: HTTPServer, gateway: SoapGateway, redirect_url: str
):
    answer_with(
        httpserver,
        vendor_answer("InitiatePaymentResponse", externalId="soappay_1", redirectUrl=redirect_url),
    )

    # Not a ValueError: the vendor holds the payment, which is reconciled.
    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.initiate(INITIATE)


def cancel_answer(**overrides: str) -> bytes:
    fields = {"externalId": "soappay_1", "reference": str(PAYMENT_ID), "status": "cancelled"}
    return vendor_answer("CancelPaymentResponse", **(fields | overrides))


async def test_cancel_sends_the_documented_envelope_and_takes_its_cancelled_answer(
    httpserver: HTTPServer, gateway: SoapGateway
):
    answer_with(httpserver, cancel_answer())

    assert await gateway.cancel(CANCEL) == CancelResult()

    request, envelope = sent(httpserver)
    assert request.headers["SOAPAction"] == '"urn:soap-vendor:payments:v1#CancelPayment"'
    assert text_of(envelope, "soap:Body/v:CancelPayment/v:externalId") == "soappay_1"
    assert text_of(envelope, "soap:Header/wsse:Security/wsse:UsernameToken/wsse:Username") == (
        "merchant-7"
    )


@pytest.mark.parametrize(
    "body",
    [
        cancel_answer(status="paid"),
        cancel_answer(externalId="soappay_2"),
        cancel_answer(reference=str(REFUND_ID)),
        vendor_answer("CancelPaymentResponse", externalId="soappay_1"),
        vendor_answer("InitiatePaymentResponse", externalId="soappay_1"),
    ],
    ids=["answered paid", "another payment", "another reference", "no status", "another answer"],
)
async def test_a_cancel_the_vendor_did_not_confirm_is_an_unknown_outcome(
    httpserver: HTTPServer, gateway: SoapGateway, body: bytes
):
    answer_with(httpserver, body)

    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.cancel(CANCEL)


@pytest.mark.parametrize(
    ("amount", "text"),
    [(Amount(1000, "JPY"), "1000"), (Amount(1234, "KWD"), "1.234"), (Amount(5, "USD"), "0.05")],
)
async def test_amounts_travel_in_major_units_with_the_currency_exponent(
    httpserver: HTTPServer, gateway: SoapGateway, amount: Amount, text: str
):
    answer_with(httpserver, vendor_answer("InitiatePaymentResponse", externalId="soappay_1"))

    await gateway.initiate(InitiateRequest(payment_id=PAYMENT_ID, amount=amount))

    _, envelope = sent(httpserver)
    assert text_of(envelope, "soap:Body/v:InitiatePayment/v:amount") == text
    assert text_of(envelope, "soap:Body/v:InitiatePayment/v:currency") == amount.currency


@pytest.mark.parametrize("password_type", [PasswordType.DIGEST, PasswordType.TEXT])
async def test_every_call_carries_the_configured_username_token(
    httpserver: HTTPServer, resources: GatewayResources, password_type: PasswordType
):
    answer_with(httpserver, vendor_answer("InitiatePaymentResponse", externalId="soappay_1"))
    gateway = gateway_for(
        httpserver.url_for("/ws/payments"), resources, password_type=password_type
    )

    await gateway.initiate(INITIATE)

    _, envelope = sent(httpserver)
    expected = UsernameCredentials(
        username=CREDENTIALS["username"], password=CREDENTIALS["password"]
    )
    verify_username_token(
        envelope,
        expected=expected,
        accepted_types=(password_type,),
        tolerance_seconds=1,
        now=NOW,
        nonces=NonceMemory(),
    )
    password = envelope.find(f".//{{{WSSE}}}Password")
    assert password is not None
    assert (password.text == CREDENTIALS["password"]) is (password_type is PasswordType.TEXT)


async def test_refund_sends_the_documented_envelope_and_returns_the_vendor_refund_id(
    httpserver: HTTPServer, gateway: SoapGateway
):
    answer_with(httpserver, vendor_answer("RefundResponse", refundId="soappayrf_1"))

    result = await gateway.refund(REFUND)

    assert result == RefundResult(external_refund_id="soappayrf_1")
    request, envelope = sent(httpserver)
    assert request.headers["SOAPAction"] == '"urn:soap-vendor:payments:v1#Refund"'
    fields = {
        name: text_of(envelope, f"soap:Body/v:Refund/v:{name}")
        for name in ("externalId", "amount", "currency", "reference")
    }
    assert fields == {
        "externalId": "soappay_1",
        "amount": "5.00",
        "currency": "AED",
        "reference": str(REFUND_ID),
    }


DECLINE = fault("soap:Client", "The card has no funds", fault_detail("insufficient_funds"))


@pytest.mark.parametrize(
    ("status", "body", "expected", "vendor_code"),
    [
        (500, DECLINE, GatewayDeclined, "insufficient_funds"),
        (400, DECLINE, GatewayDeclined, "insufficient_funds"),
        (500, fault("soap:Client", "no detail"), GatewayDeclined, None),
        (500, fault("soap:Client.Validation", "dotted"), GatewayDeclined, None),
        (500, fault("s:Client", xmlns=f'xmlns:s="{"http://schemas.xmlsoap.org/soap/envelope/"}"'),
         GatewayDeclined, None),
        (500, fault("soap:Server", "down", fault_detail("unavailable", "false")),
         GatewayUnavailable, None),
        (503, fault("soap:Server", "down", fault_detail("unavailable", "0")),
         GatewayUnavailable, None),
        (500, fault("soap:Server", "failed", fault_detail("internal_error", "true")),
         GatewayOutcomeUnknown, None),
        (500, fault("soap:Server", "failed"), GatewayOutcomeUnknown, None),
        (503, fault("soap:Server", "failed"), GatewayOutcomeUnknown, None),
        (500, fault("soap:Server", "?", fault_detail("x", "perhaps")), GatewayOutcomeUnknown, None),
        (500, fault("wsse:FailedAuthentication", xmlns=f'xmlns:wsse="{WSSE}"'),
         GatewayUnavailable, None),
        (500, fault("soap:VersionMismatch"), GatewayUnavailable, None),
        (500, fault("soap:MustUnderstand"), GatewayUnavailable, None),
        (500, fault("x:Client", xmlns='xmlns:x="urn:elsewhere"'), GatewayOutcomeUnknown, None),
        (500, fault("Client"), GatewayOutcomeUnknown, None),
    ],
)  # fmt: skip
@pytest.mark.parametrize("operation", ["initiate", "refund", "cancel"])
async def test_a_vendor_fault_maps_onto_the_taxonomy(
    httpserver: HTTPServer,
    gateway: SoapGateway,
    operation: str,
    status: int,
    body: bytes,
    expected: type[GatewayError],
    vendor_code: str | None,
):
    answer_with(httpserver, body, status)
    with pytest.raises(GatewayError) as raised:
        await call(gateway, operation)

    assert type(raised.value) is expected
    if isinstance(raised.value, GatewayDeclined):
        assert raised.value.vendor_code == vendor_code
    assert len(httpserver.log) == 1, "a failed call is never retried by the gateway"


@pytest.mark.parametrize(
    ("detail", "soft"),
    [
        (fault_detail("try_again_later", decline_type="soft"), True),
        (fault_detail("issuer_unavailable", decline_type=" soft "), True),
        (fault_detail("do_not_honour", decline_type="hard"), False),
        (fault_detail("stolen_card"), False),  # an older service says nothing: hard
        (fault_detail("try_again_later", decline_type="SOFT"), False),  # not the schema's
        (fault_detail("try_again_later", decline_type="maybe"), False),
    ],
)
async def test_a_payment_s_decline_is_soft_only_where_the_vendor_says_so(
    httpserver: HTTPServer, gateway: SoapGateway, detail: str, soft: bool
):
    """A decline made soft by mistake would send a stolen card to the next gateway."""
    answer_with(httpserver, fault("soap:Client", "declined", detail), 500)

    with pytest.raises(GatewayDeclined) as declined:
        await gateway.initiate(INITIATE)

    assert declined.value.soft is soft


@pytest.mark.parametrize("operation", ["refund", "cancel"])
async def test_a_soft_decline_of_anything_but_a_payment_is_hard(
    httpserver: HTTPServer, gateway: SoapGateway, operation: str
):
    """Only a payment is ever taken elsewhere: a refund goes to the vendor that holds it."""
    detail = fault_detail("try_again_later", decline_type="soft")
    answer_with(httpserver, fault("soap:Client", "not now", detail), 500)

    with pytest.raises(GatewayDeclined) as declined:
        await call(gateway, operation)

    assert (declined.value.vendor_code, declined.value.soft) == ("try_again_later", False)


SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected"),
    [
        (200, "text/html", b"<html><body>Thanks!</body></html>", GatewayOutcomeUnknown),
        (200, XML, b"", GatewayOutcomeUnknown),
        (200, "application/json", b'{"externalId": "soappay_1"}', GatewayOutcomeUnknown),
        (200, XML, b"<unclosed", GatewayOutcomeUnknown),
        (202, XML, b"", GatewayOutcomeUnknown),
        (500, "text/html", b"<h1>Internal Server Error</h1>", GatewayOutcomeUnknown),
        (502, XML, b"", GatewayOutcomeUnknown),
        (504, "text/plain", b"gateway timeout", GatewayOutcomeUnknown),
        (503, "text/html", b"<h1>Service Unavailable</h1>", GatewayUnavailable),
        (503, XML, b"", GatewayUnavailable),
        (401, XML, b"", GatewayUnavailable),
        (403, "text/plain", b"forbidden", GatewayUnavailable),
        (429, XML, b"", GatewayUnavailable),
        (
            200,
            XML,
            f'<e:Envelope xmlns:e="{SOAP12}"><e:Body><v:InitiatePaymentResponse '
            'xmlns:v="urn:soap-vendor:payments:v1"><v:externalId>soappay_1</v:externalId>'
            "</v:InitiatePaymentResponse></e:Body></e:Envelope>".encode(),
            GatewayOutcomeUnknown,
        ),
        (
            500,
            XML,
            f'<e:Envelope xmlns:e="{SOAP12}"><e:Body><e:Fault><e:Code><e:Value>e:Sender'
            "</e:Value></e:Code></e:Fault></e:Body></e:Envelope>".encode(),
            GatewayOutcomeUnknown,
        ),
    ],
)
async def test_an_answer_that_is_not_a_usable_envelope_maps_by_its_http_status(
    httpserver: HTTPServer,
    gateway: SoapGateway,
    status: int,
    content_type: str,
    body: bytes,
    expected: type[GatewayError],
):
    answer_with(httpserver, body, status, content_type=content_type)

    with pytest.raises(GatewayError) as raised:
        await gateway.initiate(INITIATE)

    assert type(raised.value) is expected


WRONG_NAMESPACE = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<v:InitiatePaymentResponse xmlns:v="urn:another-vendor"><v:externalId>soappay_1'
    b"</v:externalId></v:InitiatePaymentResponse></soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize(
    "body",
    [
        WRONG_NAMESPACE,
        vendor_answer("InitiatePaymentResponse"),
        vendor_answer("InitiatePaymentResponse", externalId=""),
        vendor_answer("InitiatePaymentResponse", externalId="   "),
        vendor_answer("InitiatePaymentResponse", externalId="x" * 201),
        vendor_answer("InitiatePaymentResponse", externalId="soappay_1", extra="1"),
        vendor_answer("RefundResponse", refundId="soappayrf_1"),
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body/></soap:Envelope>",
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY id "soappay_1">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<v:InitiatePaymentResponse xmlns:v="urn:soap-vendor:payments:v1">'
        b"<v:externalId>&id;</v:externalId></v:InitiatePaymentResponse></soap:Body>"
        b"</soap:Envelope>",
    ],
)
async def test_a_200_that_is_not_the_documented_answer_is_an_unknown_outcome(
    httpserver: HTTPServer, gateway: SoapGateway, body: bytes
):
    answer_with(httpserver, body)

    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.initiate(INITIATE)


async def test_an_oversized_answer_is_an_unknown_outcome(tracer):
    def handler(request: httpx.Request) -> httpx.Response:
        padding = b" " * MAX_DOCUMENT_BYTES
        return httpx.Response(200, content=vendor_answer("InitiatePaymentResponse") + padding)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        gateway = gateway_for("https://vendor.test/ws", GatewayResources(http=http, tracer=tracer))

        with pytest.raises(GatewayOutcomeUnknown, match="longer than"):
            await gateway.initiate(INITIATE)


async def test_an_envelope_that_cannot_be_built_is_never_sent_and_is_unavailable(
    httpserver: HTTPServer, gateway: SoapGateway
):
    unwritable = RefundRequest(
        refund_id=REFUND_ID, payment_id=PAYMENT_ID, external_id="bad\x00id", amount=REFUND.amount
    )

    with pytest.raises(GatewayUnavailable, match="could not be built"):
        await gateway.refund(unwritable)

    assert httpserver.log == []


async def test_redirects_are_not_followed_even_when_the_shared_client_would(
    httpserver: HTTPServer, tracer
):
    httpserver.expect_oneshot_request("/ws").respond_with_data(
        "", status=307, headers={"Location": httpserver.url_for("/elsewhere")}
    )
    async with httpx.AsyncClient(follow_redirects=True) as http:
        gateway = gateway_for(httpserver.url_for("/ws"), GatewayResources(http=http, tracer=tracer))

        with pytest.raises(GatewayOutcomeUnknown, match="307"):
            await gateway.initiate(INITIATE)

    assert len(httpserver.log) == 1


def status_answer(**overrides: str) -> bytes:
    fields = {
        "externalId": "soappay_1",
        "reference": str(PAYMENT_ID),
        "status": "paid",
        "amount": "999.99",
        "currency": "AED",
    }
    return vendor_answer("GetPaymentStatusResponse", **(fields | overrides))


@pytest.mark.parametrize("status", ["initiated", "paid", "failed", "expired", "cancelled"])
async def test_fetch_status_by_external_id_reports_the_vendor_status(
    httpserver: HTTPServer, gateway: SoapGateway, status: str
):
    answer_with(httpserver, status_answer(status=status))

    report = await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID, external_id="soappay_1"))

    assert report == StatusReport(status=VendorPaymentStatus(status), external_id="soappay_1")
    _, envelope = sent(httpserver)
    assert text_of(envelope, "soap:Body/v:GetPaymentStatus/v:externalId") == "soappay_1"
    assert text_of(envelope, "soap:Body/v:GetPaymentStatus/v:reference") is None


async def test_fetch_status_without_an_external_id_looks_the_payment_up_by_reference(
    httpserver: HTTPServer, gateway: SoapGateway
):
    answer_with(httpserver, status_answer(externalId="soappay_9", status="initiated"))

    report = await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID))

    assert report == StatusReport(status=VendorPaymentStatus.INITIATED, external_id="soappay_9")
    _, envelope = sent(httpserver)
    assert text_of(envelope, "soap:Body/v:GetPaymentStatus/v:reference") == str(PAYMENT_ID)
    assert text_of(envelope, "soap:Body/v:GetPaymentStatus/v:externalId") is None


async def test_only_the_vendors_own_not_found_fault_means_not_found(
    httpserver: HTTPServer, gateway: SoapGateway
):
    answer_with(
        httpserver, fault("soap:Client", "no such payment", fault_detail("payment_not_found")), 500
    )

    report = await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID))

    assert report == StatusReport(status=VendorPaymentStatus.NOT_FOUND)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, b"<html>Not Found</html>"),
        (500, fault("soap:Client", "who are you", fault_detail("invalid_request"))),
        (500, fault("soap:Client", "not found, but whose?")),
        (500, fault("soap:Server", "not found", fault_detail("payment_not_found"))),
        (200, status_answer(reference=str(uuid.uuid4()))),
        (200, status_answer(reference="not-a-uuid")),
        (200, status_answer(externalId="soappay_2")),
        (200, status_answer(status="refunded")),
        (200, status_answer(status="not_found")),
    ],
)
async def test_fetch_status_refuses_answers_it_cannot_trust_as_unknown(
    httpserver: HTTPServer, gateway: SoapGateway, status: int, body: bytes
):
    answer_with(httpserver, body, status)

    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID, external_id="soappay_1"))


def refund_answer(**overrides: str) -> bytes:
    fields = {
        "refundId": "soappayrf_1",
        "reference": str(REFUND_ID),
        "externalId": "soappay_1",
        "amount": "5.00",
        "currency": "AED",
    }
    return vendor_answer("GetRefundStatusResponse", **(fields | overrides))


REFUND_QUERY = RefundStatusQuery(refund_id=REFUND_ID, external_id="soappay_1")


async def test_a_refund_found_by_its_reference_has_succeeded(
    httpserver: HTTPServer, gateway: SoapGateway
):
    answer_with(httpserver, refund_answer())

    report = await gateway.fetch_refund_status(REFUND_QUERY)

    assert report == RefundStatusReport(
        status=VendorRefundStatus.SUCCEEDED, external_refund_id="soappayrf_1"
    )
    _, envelope = sent(httpserver)
    assert text_of(envelope, "soap:Body/v:GetRefundStatus/v:reference") == str(REFUND_ID)


async def test_a_refund_the_vendor_says_it_never_saw_is_not_found(
    httpserver: HTTPServer, gateway: SoapGateway
):
    answer_with(
        httpserver, fault("soap:Client", "no refund", fault_detail("refund_not_found")), 500
    )

    report = await gateway.fetch_refund_status(REFUND_QUERY)

    assert report == RefundStatusReport(status=VendorRefundStatus.NOT_FOUND)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, fault("soap:Client", "no payment", fault_detail("payment_not_found"))),
        (404, b""),
        (200, refund_answer(reference=str(uuid.uuid4()))),
        (200, refund_answer(externalId="soappay_2")),
        (200, refund_answer(refundId="")),
    ],
)
async def test_fetch_refund_status_refuses_answers_it_cannot_trust_as_unknown(
    httpserver: HTTPServer, gateway: SoapGateway, status: int, body: bytes
):
    answer_with(httpserver, body, status)

    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.fetch_refund_status(REFUND_QUERY)


async def test_each_vendor_call_is_traced_with_its_outcome(
    httpserver: HTTPServer, gateway: SoapGateway, spans: InMemorySpanExporter
):
    httpserver.expect_ordered_request("/ws/payments").respond_with_data(
        vendor_answer("InitiatePaymentResponse", externalId="soappay_1"), content_type=XML
    )
    httpserver.expect_ordered_request("/ws/payments").respond_with_data(
        fault("soap:Server", "down", fault_detail("unavailable", "false")), status=503
    )
    httpserver.expect_ordered_request("/ws/payments").respond_with_data(
        fault("soap:Client", "no", fault_detail("refund_declined")), status=500
    )
    httpserver.expect_ordered_request("/ws/payments").respond_with_data("", status=502)

    await gateway.initiate(INITIATE)
    with pytest.raises(GatewayUnavailable):
        await gateway.refund(REFUND)
    with pytest.raises(GatewayDeclined):
        await gateway.refund(REFUND)
    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID, external_id="soappay_1"))

    seen = [
        (
            span.name,
            span.attributes["payments.gateway.type"],
            span.attributes["rpc.method"],
            span.attributes["http.response.status_code"],
            span.attributes["payments.gateway.outcome"],
        )
        for span in spans.get_finished_spans()
        if span.attributes is not None
    ]
    assert seen == [
        ("soap gateway initiate", "soap", "InitiatePayment", 200, "ok"),
        ("soap gateway refund", "soap", "Refund", 503, "unavailable"),
        ("soap gateway refund", "soap", "Refund", 500, "declined"),
        ("soap gateway status", "soap", "GetPaymentStatus", 502, "outcome_unknown"),
    ]


async def test_calls_leave_the_shared_client_as_they_found_it(
    httpserver: HTTPServer, gateway: SoapGateway, http: httpx.AsyncClient
):
    headers_before = dict(http.headers)
    answer_with(httpserver, vendor_answer("InitiatePaymentResponse", externalId="soappay_1"))

    await gateway.initiate(INITIATE)
    await gateway.aclose()

    assert dict(http.headers) == headers_before
    assert not http.is_closed


async def test_concurrent_calls_keep_their_answers_apart(
    httpserver: HTTPServer, gateway: SoapGateway
):
    def echo(request: Request) -> Response:
        reference = text_of(parse(request.get_data()), "soap:Body/v:InitiatePayment/v:reference")
        body = vendor_answer("InitiatePaymentResponse", externalId=f"id-{reference}")
        return Response(body, status=200, content_type=XML)

    httpserver.expect_request("/ws/payments").respond_with_handler(echo)
    requests = [
        InitiateRequest(payment_id=uuid.uuid4(), amount=Amount(100, "AED")) for _ in range(10)
    ]

    results = await asyncio.gather(*(gateway.initiate(request) for request in requests))

    assert [result.external_id for result in results] == [
        f"id-{request.payment_id}" for request in requests
    ]
