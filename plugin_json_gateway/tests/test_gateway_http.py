"""The JSON gateway against a scripted vendor: wire format and the mapping of every failure."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from payments_plugin_json_gateway.gateway import MAX_ANSWER_BYTES, JsonGateway
from payments_plugin_json_gateway.settings import JsonGatewaySettings
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
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
)
from pytest_httpserver import HTTPServer

PAYMENT_ID = uuid.UUID("0b9f3c1e-5d2a-4c47-9b1e-3f0c2d4e5a6b")
REFUND_ID = uuid.UUID("7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")
INITIATE = InitiateRequest(payment_id=PAYMENT_ID, amount=Amount(99999, "AED"))
REFUND = RefundRequest(
    refund_id=REFUND_ID, payment_id=PAYMENT_ID, external_id="jsonpay_1", amount=Amount(500, "AED")
)


def gateway_for(base_url: str, resources: GatewayResources, **settings: Any) -> JsonGateway:
    return JsonGateway(JsonGatewaySettings(base_url=base_url, **settings), resources)


@pytest.fixture
def gateway(httpserver: HTTPServer, resources: GatewayResources) -> JsonGateway:
    return gateway_for(httpserver.url_for("/v1/"), resources)


def _recorded_json(httpserver: HTTPServer) -> object:
    [(request, _)] = httpserver.log
    assert request.headers["Content-Type"] == "application/json"
    return json.loads(request.get_data())


async def test_initiate_sends_the_documented_body_and_returns_the_vendor_id(
    httpserver: HTTPServer, gateway: JsonGateway
):
    httpserver.expect_oneshot_request("/v1/initiate-payment", method="POST").respond_with_json(
        {"id": "jsonpay_1"}, status=201
    )

    result = await gateway.initiate(INITIATE)

    assert result == InitiateResult(external_id="jsonpay_1")
    assert _recorded_json(httpserver) == {"amount": "999.99 AED", "reference": str(PAYMENT_ID)}


async def test_initiate_sends_the_return_url_and_the_description_and_returns_the_page(
    httpserver: HTTPServer, gateway: JsonGateway
):
    page = "https://pay.vendor.example/p/jsonpay_1?lang=en"
    httpserver.expect_oneshot_request("/v1/initiate-payment", method="POST").respond_with_json(
        {"id": "jsonpay_1", "redirect_url": page}, status=201
    )
    request = InitiateRequest(
        payment_id=PAYMENT_ID,
        amount=Amount(99999, "AED"),
        return_url="https://shop.example/back?order=1",
        description='Two "tickets" & a <b>programme</b>',
    )

    result = await gateway.initiate(request)

    assert result == InitiateResult(external_id="jsonpay_1", next_action=RedirectAction(url=page))
    assert _recorded_json(httpserver) == {
        "amount": "999.99 AED",
        "reference": str(PAYMENT_ID),
        "return_url": "https://shop.example/back?order=1",
        "description": 'Two "tickets" & a <b>programme</b>',
    }


@pytest.mark.parametrize(
    ("description", "sent"),
    [(" \t", None), ("x" * 1001, "x" * 1000), ("é" * 10, "é" * 10)],
    ids=["blank", "longer than the vendor takes", "not ASCII"],
)
async def test_a_description_is_sent_as_the_vendor_takes_it(
    httpserver: HTTPServer, gateway: JsonGateway, description: str, sent: str | None
):
    httpserver.expect_oneshot_request("/v1/initiate-payment").respond_with_json({"id": "j"}, 201)

    await gateway.initiate(
        InitiateRequest(payment_id=PAYMENT_ID, amount=Amount(1, "AED"), description=description)
    )

    assert _recorded_json(httpserver) == {"amount": "0.01 AED", "reference": str(PAYMENT_ID)} | (
        {} if sent is None else {"description": sent}
    )


@pytest.mark.parametrize(
    "redirect_url",
    [
        "javascript:alert(document.cookie)",
        "/pay/jsonpay_1",
        "https://user:pw@pay.vendor.example/p",
        "https://pay.vendor.example/" + "p" * 2048,
        5,
        "",
    ],
)
async def test_a_page_no_payer_can_be_sent_to_is_an_unknown_outcome(
    httpserver: HTTPServer, gateway: JsonGateway, redirect_url: object
):
    httpserver.expect_oneshot_request("/v1/initiate-payment").respond_with_json(
        {"id": "jsonpay_1", "redirect_url": redirect_url}, status=201
    )

    # Not a ValueError: the vendor holds the payment, which is reconciled.
    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.initiate(INITIATE)


async def test_cancel_posts_to_the_payment_s_cancel_and_takes_its_cancelled_answer(tracer):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"id": "jsonpay/1", "reference": str(PAYMENT_ID), "status": "cancelled"}
        return httpx.Response(200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        gateway = gateway_for("https://vendor.test/v1", GatewayResources(http=http, tracer=tracer))
        result = await gateway.cancel(CancelRequest(payment_id=PAYMENT_ID, external_id="jsonpay/1"))

    assert result == CancelResult()
    assert [(request.method, request.url.raw_path) for request in seen] == [
        ("POST", b"/v1/payments/jsonpay%2F1/cancel")
    ]


@pytest.mark.parametrize(
    ("status", "body", "expected", "vendor_code"),
    [
        (409, {"error": {"code": "payment_already_paid"}}, GatewayDeclined, "payment_already_paid"),
        (404, {"error": {"code": "payment_not_found"}}, GatewayDeclined, "payment_not_found"),
        (503, "", GatewayUnavailable, None),
        (500, "", GatewayOutcomeUnknown, None),
        (200, {"id": "jsonpay_1", "reference": str(PAYMENT_ID), "status": "paid"}, None, None),
        (200, {"id": "jsonpay_2", "reference": str(PAYMENT_ID), "status": "cancelled"}, None, None),
        (200, {"id": "jsonpay_1", "reference": str(REFUND_ID), "status": "cancelled"}, None, None),
        (200, {"ok": True}, None, None),
    ],
    ids=[
        "paid already",
        "not found",
        "unavailable",
        "error",
        "answered paid",
        "another payment",
        "another reference",
        "not the documented answer",
    ],
)
async def test_a_cancel_the_vendor_did_not_confirm_maps_onto_the_taxonomy(
    httpserver: HTTPServer,
    gateway: JsonGateway,
    status: int,
    body: object,
    expected: type[GatewayError] | None,
    vendor_code: str | None,
):
    httpserver.expect_oneshot_request("/v1/payments/jsonpay_1/cancel").respond_with_json(
        body, status=status
    )

    with pytest.raises(expected or GatewayOutcomeUnknown) as raised:
        await gateway.cancel(CancelRequest(payment_id=PAYMENT_ID, external_id="jsonpay_1"))

    assert getattr(raised.value, "vendor_code", None) == vendor_code


async def test_a_repeated_initiate_answered_200_is_accepted(
    httpserver: HTTPServer, gateway: JsonGateway
):
    httpserver.expect_oneshot_request("/v1/initiate-payment").respond_with_json(
        {"id": "jsonpay_1", "created": False}, status=200
    )

    assert await gateway.initiate(INITIATE) == InitiateResult(external_id="jsonpay_1")


async def test_refund_sends_the_documented_body_and_returns_the_vendor_refund_id(
    httpserver: HTTPServer, gateway: JsonGateway
):
    httpserver.expect_oneshot_request("/v1/refunds", method="POST").respond_with_json(
        {"id": "jsonpayrf_1"}, status=201
    )

    result = await gateway.refund(REFUND)

    assert result == RefundResult(external_refund_id="jsonpayrf_1")
    assert _recorded_json(httpserver) == {
        "payment_id": "jsonpay_1",
        "amount": "5.00 AED",
        "reference": str(REFUND_ID),
    }


DECLINE_BODY = {"error": {"code": "insufficient_funds", "message": "The card has no funds"}}


@pytest.mark.parametrize(
    ("status", "body", "expected", "vendor_code"),
    [
        (503, DECLINE_BODY, GatewayUnavailable, None),
        (401, "", GatewayUnavailable, None),
        (403, "", GatewayUnavailable, None),
        (429, "", GatewayUnavailable, None),
        (500, DECLINE_BODY, GatewayOutcomeUnknown, None),
        (502, "", GatewayOutcomeUnknown, None),
        (504, "", GatewayOutcomeUnknown, None),
        (408, "", GatewayOutcomeUnknown, None),
        (302, "", GatewayOutcomeUnknown, None),
        (402, DECLINE_BODY, GatewayDeclined, "insufficient_funds"),
        (400, {"error": {"code": "invalid_amount"}}, GatewayDeclined, "invalid_amount"),
        (422, {"error": {"message": "no code given"}}, GatewayDeclined, None),
        (409, {"error": "conflict"}, GatewayDeclined, None),
        (404, "<html>not found</html>", GatewayDeclined, None),
    ],
)
@pytest.mark.parametrize(
    ("path", "operation"), [("/v1/initiate-payment", "initiate"), ("/v1/refunds", "refund")]
)
async def test_a_vendor_error_status_maps_onto_the_taxonomy(
    httpserver: HTTPServer,
    gateway: JsonGateway,
    path: str,
    operation: str,
    status: int,
    body: object,
    expected: type[GatewayError],
    vendor_code: str | None,
):
    respond = httpserver.expect_oneshot_request(path)
    if isinstance(body, str):
        respond.respond_with_data(body, status=status)
    else:
        respond.respond_with_json(body, status=status)

    with pytest.raises(expected) as raised:
        await (gateway.initiate(INITIATE) if operation == "initiate" else gateway.refund(REFUND))

    assert type(raised.value) is expected
    if expected is GatewayDeclined:
        assert raised.value.vendor_code == vendor_code  # type: ignore[attr-defined]
    assert len(httpserver.log) == 1, "a failed call is never retried by the gateway"


@pytest.mark.parametrize(
    ("code", "soft"),
    [
        ("issuer_unavailable", True),
        ("try_again_later", True),
        ("processing_error", True),
        ("insufficient_funds", False),
        ("stolen_card", False),
        ("do_not_honour", False),
        ("payment_declined", False),
        (None, False),
    ],
)
async def test_a_payment_declined_with_a_soft_code_is_a_soft_decline_any_other_a_hard_one(
    httpserver: HTTPServer, gateway: JsonGateway, code: str | None, soft: bool
):
    """A hard code made soft would send a stolen card to the next gateway; a soft code made
    hard loses a payment another gateway would take."""
    error = {"message": "declined"} | ({"code": code} if code else {})
    httpserver.expect_oneshot_request("/v1/initiate-payment").respond_with_json(
        {"error": error}, status=402
    )

    with pytest.raises(GatewayDeclined) as declined:
        await gateway.initiate(INITIATE)

    assert (declined.value.vendor_code, declined.value.soft) == (code, soft)


async def test_a_refund_declined_with_a_soft_code_is_a_hard_decline(
    httpserver: HTTPServer, gateway: JsonGateway
):
    """Only a payment is ever taken elsewhere: a refund goes to the vendor that holds it."""
    httpserver.expect_oneshot_request("/v1/refunds").respond_with_json(
        {"error": {"code": "try_again_later"}}, status=402
    )

    with pytest.raises(GatewayDeclined) as declined:
        await gateway.refund(REFUND)

    assert (declined.value.vendor_code, declined.value.soft) == ("try_again_later", False)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b""),
        ("text/html", b"<html>Thanks!</html>"),
        ("application/json", b'{"id": "jsonpay_1"'),
        ("application/json", b"[]"),
        ("application/json", b'"jsonpay_1"'),
        ("application/json", b'{"payment_id": "jsonpay_1"}'),
        ("application/json", b'{"id": ""}'),
        ("application/json", b'{"id": "   "}'),
        ("application/json", b'{"id": 42}'),
        ("application/json", b'{"id": null}'),
    ],
)
@pytest.mark.parametrize("status", [200, 201])
async def test_a_2xx_whose_body_is_not_the_documented_json_is_an_unknown_outcome(
    httpserver: HTTPServer, gateway: JsonGateway, status: int, content_type: str, body: bytes
):
    httpserver.expect_oneshot_request("/v1/initiate-payment").respond_with_data(
        body, status=status, content_type=content_type
    )

    with pytest.raises(GatewayOutcomeUnknown, match="not the documented JSON"):
        await gateway.initiate(INITIATE)


async def test_an_oversized_answer_is_an_unknown_outcome(tracer):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, content=b'{"id": "' + b"x" * MAX_ANSWER_BYTES + b'"}')

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        gateway = gateway_for("https://vendor.test", GatewayResources(http=http, tracer=tracer))

        with pytest.raises(GatewayOutcomeUnknown, match="longer than"):
            await gateway.initiate(INITIATE)


async def test_redirects_are_not_followed_even_when_the_shared_client_would(
    httpserver: HTTPServer, tracer
):
    httpserver.expect_oneshot_request("/initiate-payment").respond_with_data(
        "", status=307, headers={"Location": httpserver.url_for("/elsewhere")}
    )
    async with httpx.AsyncClient(follow_redirects=True) as http:
        resources = GatewayResources(http=http, tracer=tracer)
        gateway = gateway_for(httpserver.url_for("/"), resources)

        with pytest.raises(GatewayOutcomeUnknown, match="307"):
            await gateway.initiate(INITIATE)

    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("external_id", "raw_path"),
    [
        ("jsonpay_1", b"/v1/payments/jsonpay_1"),
        ("a/b c?d#e", b"/v1/payments/a%2Fb%20c%3Fd%23e"),
        ("..", b"/v1/payments/%2E%2E"),
        ("pay.1", b"/v1/payments/pay%2E1"),
    ],
)
async def test_the_external_id_is_quoted_into_a_single_path_segment(
    tracer, external_id: str, raw_path: bytes
):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"id": external_id, "reference": str(PAYMENT_ID), "status": "paid"}
        return httpx.Response(200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        gateway = gateway_for("https://vendor.test/v1", GatewayResources(http=http, tracer=tracer))
        report = await gateway.fetch_status(
            StatusQuery(payment_id=PAYMENT_ID, external_id=external_id)
        )

    assert report == StatusReport(status=VendorPaymentStatus.PAID, external_id=external_id)
    assert [request.url.raw_path for request in seen] == [raw_path]


@pytest.mark.parametrize("status", ["initiated", "paid", "failed", "expired", "cancelled"])
async def test_fetch_status_by_external_id_reports_the_vendor_status(
    httpserver: HTTPServer, gateway: JsonGateway, status: str
):
    httpserver.expect_oneshot_request("/v1/payments/jsonpay_1", method="GET").respond_with_json(
        {"id": "jsonpay_1", "reference": str(PAYMENT_ID), "status": status, "amount": "9.99 AED"}
    )

    report = await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID, external_id="jsonpay_1"))

    assert report == StatusReport(status=VendorPaymentStatus(status), external_id="jsonpay_1")


async def test_fetch_status_without_an_external_id_looks_the_payment_up_by_reference(
    httpserver: HTTPServer, gateway: JsonGateway
):
    httpserver.expect_oneshot_request(
        "/v1/payments", method="GET", query_string={"reference": str(PAYMENT_ID)}
    ).respond_with_json(
        {"id": "jsonpay_9", "reference": str(PAYMENT_ID), "status": "initiated", "amount": "1 AED"}
    )

    report = await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID))

    assert report == StatusReport(status=VendorPaymentStatus.INITIATED, external_id="jsonpay_9")


@pytest.mark.parametrize("external_id", [None, "jsonpay_1"])
async def test_fetch_status_maps_404_to_not_found(
    httpserver: HTTPServer, gateway: JsonGateway, external_id: str | None
):
    httpserver.expect_oneshot_request(
        "/v1/payments" if external_id is None else f"/v1/payments/{external_id}"
    ).respond_with_json({"error": {"code": "payment_not_found"}}, status=404)

    report = await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID, external_id=external_id))

    assert report == StatusReport(status=VendorPaymentStatus.NOT_FOUND)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, {}, GatewayUnavailable),
        (500, {}, GatewayOutcomeUnknown),
        (400, {"error": {"code": "bad_id"}}, GatewayOutcomeUnknown),
        # A 404 that is not the vendor's own "payment_not_found" (a wrong base_url, a proxy)
        # must not read as "the vendor never got it".
        (404, {}, GatewayOutcomeUnknown),
        (404, {"error": {"code": "not_found"}}, GatewayOutcomeUnknown),
        (
            200,
            {"id": "jsonpay_1", "reference": str(PAYMENT_ID), "status": "refunded"},
            GatewayOutcomeUnknown,
        ),
        (200, {"id": "jsonpay_1", "status": "paid"}, GatewayOutcomeUnknown),
        (
            200,
            {"id": "jsonpay_1", "reference": str(uuid.uuid4()), "status": "paid"},
            GatewayOutcomeUnknown,
        ),
        (
            200,
            {"id": "jsonpay_2", "reference": str(PAYMENT_ID), "status": "paid"},
            GatewayOutcomeUnknown,
        ),
        (200, {"id": "", "reference": str(PAYMENT_ID), "status": "paid"}, GatewayOutcomeUnknown),
    ],
)
async def test_fetch_status_refuses_answers_it_cannot_trust(
    httpserver: HTTPServer, gateway: JsonGateway, status: int, body: object, expected: type
):
    httpserver.expect_oneshot_request("/v1/payments/jsonpay_1").respond_with_json(
        body, status=status
    )

    with pytest.raises(expected):
        await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID, external_id="jsonpay_1"))


async def test_each_vendor_call_is_traced_with_its_outcome(
    httpserver: HTTPServer, gateway: JsonGateway, spans: InMemorySpanExporter
):
    httpserver.expect_ordered_request("/v1/initiate-payment").respond_with_json(
        {"id": "jsonpay_1"}, status=201
    )
    httpserver.expect_ordered_request("/v1/refunds").respond_with_json({}, status=503)
    httpserver.expect_ordered_request("/v1/payments/jsonpay_1").respond_with_json({}, status=502)

    await gateway.initiate(INITIATE)
    with pytest.raises(GatewayUnavailable):
        await gateway.refund(REFUND)
    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.fetch_status(StatusQuery(payment_id=PAYMENT_ID, external_id="jsonpay_1"))

    seen = [
        (
            span.attributes["payments.gateway.type"],
            span.attributes["payments.gateway.operation"],
            span.attributes["http.response.status_code"],
            span.attributes["payments.gateway.outcome"],
            span.end_time is not None,
        )
        for span in spans.get_finished_spans()
        if span.attributes is not None
    ]
    assert seen == [
        ("json", "initiate", 201, "ok", True),
        ("json", "refund", 503, "unavailable", True),
        ("json", "status", 502, "outcome_unknown", True),
    ]


async def test_aclose_leaves_the_shared_client_open(
    httpserver: HTTPServer, gateway: JsonGateway, http: httpx.AsyncClient
):
    await gateway.aclose()

    assert not http.is_closed
