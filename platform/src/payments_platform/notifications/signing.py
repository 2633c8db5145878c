"""Standard Webhooks signatures (https://www.standardwebhooks.com): every notification carries
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256>`` of
``<id>.<timestamp>.<body>`` under the endpoint's secret, so that any receiver using the
specification's libraries verifies it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Final

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the prefix of every secret, not one


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, as ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The key a ``whsec_<base64>`` secret holds."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of a signed notification."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


class SignatureRefused(ValueError):
    """A notification's signature or timestamp does not hold."""


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance: float = 300
) -> None:
    """Check a notification as a receiver should: a ``v1`` signature of this body, made
    within ``tolerance`` seconds of ``now``."""
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not message_id or not timestamp.isdigit():
        raise SignatureRefused("webhook-id or webhook-timestamp is missing")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureRefused("the timestamp is too far from now")
    expected = signed_headers(secret, message_id, int(timestamp), body)["webhook-signature"]
    given = headers.get("webhook-signature", "").split()
    if not any(hmac.compare_digest(expected, signature) for signature in given):
        raise SignatureRefused("no signature matches")
