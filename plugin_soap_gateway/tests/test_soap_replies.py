"""webhook_reply: the platform's verdict on a notification, rendered as SOAP for the vendor."""

from __future__ import annotations

import pytest
from payments_plugin_soap_gateway.replies import webhook_reply
from payments_plugins import WebhookAck
from soap_documents import parse, text_of


@pytest.mark.parametrize("changed", [True, False])
def test_an_accepted_notification_is_answered_with_a_response_envelope(changed: bool):
    reply = webhook_reply(
        WebhookAck(accepted=True, status_code=200, code="ok", detail="paid", changed=changed)
    )

    assert reply.status_code == 200
    assert reply.content_type == "text/xml; charset=utf-8"
    envelope = parse(reply.body)
    response = "soap:Body/v:PaymentStatusNotificationResponse"
    assert text_of(envelope, f"{response}/v:accepted") == "true"
    assert text_of(envelope, f"{response}/v:changed") == ("true" if changed else "false")


@pytest.mark.parametrize(
    ("status", "code", "faultcode"),
    [
        (400, "invalid-webhook", "soap:Client"),
        (404, "payment-not-found", "soap:Client"),
        (409, "transition-not-allowed", "soap:Client"),
        (503, "service-unavailable", "soap:Server"),
    ],
)
def test_a_refusal_is_a_fault_with_the_platforms_status_and_code(
    status: int, code: str, faultcode: str
):
    reply = webhook_reply(
        WebhookAck(accepted=False, status_code=status, code=code, detail="why it was refused")
    )

    assert reply.status_code == status
    assert reply.content_type == "text/xml; charset=utf-8"
    envelope = parse(reply.body)
    assert text_of(envelope, "soap:Body/soap:Fault/faultcode") == faultcode
    assert text_of(envelope, "soap:Body/soap:Fault/faultstring") == "why it was refused"
    assert text_of(envelope, "soap:Body/soap:Fault/detail/v:FaultDetail/v:code") == code
    assert text_of(envelope, "soap:Body/soap:Fault/detail/v:FaultDetail/v:processed") == "false"


def test_a_refusal_with_a_status_that_is_not_an_error_is_still_a_server_fault():
    reply = webhook_reply(WebhookAck(accepted=False, status_code=200, code="odd", detail="odd"))

    assert reply.status_code == 500
    assert text_of(parse(reply.body), "soap:Body/soap:Fault/faultcode") == "soap:Server"


def test_a_detail_quoting_characters_xml_cannot_carry_is_still_rendered():
    detail = "no payment known to soap as 'a\x00b\x1b' " + "x" * 600
    reply = webhook_reply(
        WebhookAck(accepted=False, status_code=404, code="payment-not-found", detail=detail)
    )

    faultstring = text_of(parse(reply.body), "soap:Body/soap:Fault/faultstring")
    assert faultstring is not None
    assert faultstring.startswith("no payment known to soap as 'a\ufffdb\ufffd'")
    assert len(faultstring) == 500
