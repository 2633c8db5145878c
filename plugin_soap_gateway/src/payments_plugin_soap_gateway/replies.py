"""Our answer to the vendor's notification, in SOAP: a response envelope, or a fault.

The platform decides the outcome and its HTTP status (200; 400 for a malformed or
unauthenticated notification; 404 for an unknown payment; 409 for a status the payment can no
longer take); this module only renders it. A refusal is a SOAP fault carrying that status
rather than WS-I's blanket 500, so the vendor's retry logic can tell a permanent refusal from
an outage: ``soap:Client`` for a 4xx, ``soap:Server`` for a 5xx, with the platform's problem
code in ``FaultDetail/code`` and ``processed`` false, since nothing was changed.
"""

from __future__ import annotations

from typing import Final

from payments_plugins import WebhookAck, WebhookReply

from payments_plugin_soap_gateway.wire import (
    CONTENT_TYPE,
    FaultKind,
    fault_envelope,
    notification_response,
)

MAX_FAULT_STRING: Final = 500


def webhook_reply(ack: WebhookAck) -> WebhookReply:
    """Render the platform's verdict on a notification for the vendor."""
    if ack.accepted:
        return WebhookReply(
            status_code=ack.status_code,
            content_type=CONTENT_TYPE,
            body=notification_response(accepted=True, changed=ack.changed),
        )
    status = ack.status_code if 400 <= ack.status_code <= 599 else 500
    kind = FaultKind.CLIENT if status < 500 else FaultKind.SERVER
    return WebhookReply(
        status_code=status,
        content_type=CONTENT_TYPE,
        body=fault_envelope(
            kind, ack.detail[:MAX_FAULT_STRING], vendor_code=ack.code, processed=False
        ),
    )
