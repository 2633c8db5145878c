"""parse_webhook: signatures, replay protection and strict body decoding."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest
from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugins import GatewayResources, InvalidWebhook, VendorPaymentStatus, WebhookEvent

SECRET = "whsec_test_4f9a0c"
NOW = 1_700_000_000
BODY = b'{"external_id":"jsonpay_1","status":"paid"}'
PAID = WebhookEvent(external_id="jsonpay_1", status=VendorPaymentStatus.PAID)


def sign(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    """Sign the way the vendor documents it, written out independently of the code under test."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": "sha256=" + digest.hexdigest(),
    }


@pytest.fixture
def signed_gateway(resources: GatewayResources) -> JsonGateway:
    settings = JsonGatewaySettings(
        base_url="https://vendor.test", webhook_secret=SECRET, webhook_tolerance_seconds=300
    )
    return JsonGateway(settings, resources, now=lambda: float(NOW))


@pytest.fixture
def unsigned_gateway(resources: GatewayResources) -> JsonGateway:
    return JsonGateway(JsonGatewaySettings(base_url="https://vendor.test"), resources)


async def test_without_a_secret_an_unsigned_webhook_is_accepted(unsigned_gateway: JsonGateway):
    assert await unsigned_gateway.parse_webhook({}, BODY) == PAID


@pytest.mark.parametrize(
    ("body", "event"),
    [
        (
            b'{"external_id":"a","status":"failed"}',
            WebhookEvent(external_id="a", status=VendorPaymentStatus.FAILED),
        ),
        (
            b'{"status":"expired","external_id":"b"}',
            WebhookEvent(external_id="b", status=VendorPaymentStatus.EXPIRED),
        ),
        (
            b'{"external_id":"c","status":"paid","reference":"8fda856b-83a6-467a-ad01-cfb57389d658"}',
            WebhookEvent(
                external_id="c",
                status=VendorPaymentStatus.PAID,
                reference=uuid.UUID("8fda856b-83a6-467a-ad01-cfb57389d658"),
            ),
        ),
    ],
)
async def test_every_final_status_is_decoded(
    unsigned_gateway: JsonGateway, body: bytes, event: WebhookEvent
):
    assert await unsigned_gateway.parse_webhook({}, body) == event


async def test_a_correctly_signed_recent_webhook_is_accepted(signed_gateway: JsonGateway):
    assert await signed_gateway.parse_webhook(sign(BODY, NOW - 10), BODY) == PAID


@pytest.mark.parametrize("spell", [str.lower, str.upper, lambda name: name])
async def test_header_names_match_whatever_their_case(signed_gateway: JsonGateway, spell):
    headers = {spell(name): value for name, value in sign(BODY, NOW).items()}

    assert await signed_gateway.parse_webhook(headers, BODY) == PAID


@pytest.mark.parametrize("offset", [-300, 300])
async def test_a_timestamp_at_the_edge_of_the_tolerance_is_accepted(
    signed_gateway: JsonGateway, offset: int
):
    assert await signed_gateway.parse_webhook(sign(BODY, NOW + offset), BODY) == PAID


@pytest.mark.parametrize(("offset", "reason"), [(-301, "old"), (301, "ahead"), (-86_400, "old")])
async def test_a_timestamp_outside_the_tolerance_is_refused_as_a_replay(
    signed_gateway: JsonGateway, offset: int, reason: str
):
    with pytest.raises(InvalidWebhook, match=reason):
        await signed_gateway.parse_webhook(sign(BODY, NOW + offset), BODY)


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key != name}


GOOD = sign(BODY, NOW)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "not signed"),
        (_without(GOOD, "X-Webhook-Signature"), "not signed"),
        (_without(GOOD, "X-Webhook-Timestamp"), "not signed"),
        (sign(BODY, NOW, secret="another-secret"), "does not match"),
        (sign(b'{"external_id":"jsonpay_1","status":"failed"}', NOW), "does not match"),
        (GOOD | {"X-Webhook-Timestamp": str(NOW - 1)}, "does not match"),
        (GOOD | {"X-Webhook-Signature": GOOD["X-Webhook-Signature"][7:]}, "sha256="),
        (GOOD | {"X-Webhook-Signature": "sha1=" + "0" * 40}, "sha256="),
        (GOOD | {"X-Webhook-Signature": "sha256=" + "z" * 64}, "sha256="),
        (GOOD | {"X-Webhook-Signature": "sha256=" + "é" * 64}, "sha256="),
        (GOOD | {"X-Webhook-Signature": "sha256=abc"}, "sha256="),
        (GOOD | {"X-Webhook-Timestamp": "1.7e9"}, "unix seconds"),
        (GOOD | {"X-Webhook-Timestamp": ""}, "unix seconds"),
        (GOOD | {"X-Webhook-Timestamp": "-1"}, "unix seconds"),
        (GOOD | {"x-webhook-signature": "sha256=" + "0" * 64}, "more than once"),
    ],
)
async def test_a_missing_garbled_or_wrong_signature_is_refused(
    signed_gateway: JsonGateway, headers: dict[str, str], reason: str
):
    with pytest.raises(InvalidWebhook, match=reason):
        await signed_gateway.parse_webhook(headers, BODY)


async def test_a_signature_is_checked_before_the_body(signed_gateway: JsonGateway):
    body = b"not json"

    with pytest.raises(InvalidWebhook, match="does not match"):
        await signed_gateway.parse_webhook(sign(b"other", NOW), body)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"", "malformed|truncated"),
        (b"not json", "malformed"),
        (b"[]", "Expected `object`"),
        (b'{"status":"paid"}', "external_id"),
        (b'{"external_id":"","status":"paid"}', "external_id"),
        (b'{"external_id":"   ","status":"paid"}', "external_id"),
        (b'{"external_id":7,"status":"paid"}', "external_id"),
        (b'{"external_id":"a"}', "status"),
        (b'{"external_id":"a","status":"initiated"}', "status"),
        (b'{"external_id":"a","status":"refunded"}', "status"),
        (b'{"external_id":"a","status":"PAID"}', "status"),
        (b'{"external_id":"a","status":"paid","amount":"1.00 AED"}', "amount"),
        (b'{"external_id":"a","status":"paid","reference":"order-7"}', "reference"),
        (b'{"external_id":"a","status":"paid","reference":7}', "reference"),
    ],
)
async def test_a_body_not_in_the_documented_shape_is_refused_naming_the_problem(
    signed_gateway: JsonGateway, body: bytes, named: str
):
    with pytest.raises(InvalidWebhook, match=named):
        await signed_gateway.parse_webhook(sign(body, NOW), body)


async def test_without_a_secret_a_malformed_body_is_still_refused(unsigned_gateway: JsonGateway):
    with pytest.raises(InvalidWebhook, match="status"):
        await unsigned_gateway.parse_webhook({}, b'{"external_id":"a","status":"done"}')
