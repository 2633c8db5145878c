"""Standard Webhooks signatures (``notifications/signing``): ours verify with the library, and a
signature changed, for another message or too old is refused."""

from __future__ import annotations

import time

import pytest
from payments_platform.notifications.signing import (
    SignatureRefused,
    new_secret,
    signed_headers,
    verify,
)
from standardwebhooks import Webhook


def test_a_signature_verifies_with_the_standard_webhooks_library_and_with_ours() -> None:
    secret = new_secret()
    body = b'{"type": "payment.paid"}'
    now = int(time.time())
    headers = signed_headers(secret, "evt_1", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "payment.paid"}
    verify(secret, headers, body, now=now)
    for broken in [
        {**headers, "webhook-signature": headers["webhook-signature"][:-4] + "AAA="},
        {**headers, "webhook-id": "evt_2"},
        signed_headers(new_secret(), "evt_1", now, body),
    ]:
        with pytest.raises(SignatureRefused):
            verify(secret, broken, body, now=now)
    with pytest.raises(SignatureRefused):
        verify(secret, headers, body, now=now + 301)
