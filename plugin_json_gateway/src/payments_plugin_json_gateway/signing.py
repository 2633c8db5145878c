"""The vendor's webhook signature scheme: HMAC-SHA256 over a timestamp and the raw body.

The vendor sends ``X-Webhook-Timestamp: <unix seconds>`` and
``X-Webhook-Signature: sha256=<hex>``, where the hex digest is the HMAC-SHA256, keyed with the
shared secret, of ``f"{timestamp}.".encode() + body``. Signing the timestamp with the body
lets the receiver refuse a captured webhook replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Final

from payments_plugins import InvalidWebhook

TIMESTAMP_HEADER: Final = "X-Webhook-Timestamp"
SIGNATURE_HEADER: Final = "X-Webhook-Signature"

_SCHEME_PREFIX: Final = "sha256="
_TIMESTAMP_TEXT: Final = re.compile(r"[0-9]{1,12}")
_SIGNATURE_TEXT: Final = re.compile(r"sha256=(?P<digest>[0-9a-fA-F]{64})")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value for ``body`` sent at ``timestamp``."""
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return _SCHEME_PREFIX + digest


def signed_headers(secret: str, body: bytes, *, timestamp: int) -> dict[str, str]:
    """The two headers that sign ``body`` as sent at ``timestamp`` (unix seconds)."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify_signature(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str,
    tolerance_seconds: int,
    now: Callable[[], float],
) -> None:
    """Raise ``InvalidWebhook`` unless ``headers`` sign ``body`` with ``secret`` recently enough.

    Header names are matched case-insensitively. The timestamp must lie within
    ``tolerance_seconds`` of ``now()`` in either direction.
    """
    timestamp_text = header_value(headers, TIMESTAMP_HEADER)
    signature_text = header_value(headers, SIGNATURE_HEADER)
    if timestamp_text is None or signature_text is None:
        raise InvalidWebhook(
            f"webhook is not signed: {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required"
        )
    if _TIMESTAMP_TEXT.fullmatch(timestamp_text) is None:
        raise InvalidWebhook(f"{TIMESTAMP_HEADER} must be unix seconds, got {timestamp_text!r}")
    match = _SIGNATURE_TEXT.fullmatch(signature_text.strip())
    if match is None:
        raise InvalidWebhook(f"{SIGNATURE_HEADER} must be 'sha256=' and 64 hex digits")
    timestamp = int(timestamp_text)
    # The signature is checked before the clock so that a forged request learns nothing
    # about our clock or tolerance.
    expected = signature(secret, timestamp, body)[len(_SCHEME_PREFIX) :]
    if not hmac.compare_digest(expected.encode(), match["digest"].lower().encode()):
        raise InvalidWebhook("webhook signature does not match")
    skew = now() - timestamp
    if abs(skew) > tolerance_seconds:
        direction = "old" if skew > 0 else "ahead of our clock"
        raise InvalidWebhook(
            f"webhook timestamp is {abs(skew):.0f}s {direction}; at most {tolerance_seconds}s "
            "is tolerated"
        )


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` whatever the case of the keys; None when absent.

    Raises ``InvalidWebhook`` when the mapping holds the name under several spellings with
    different values, since either could be the forged one.
    """
    wanted = name.lower()
    values = {value for key, value in headers.items() if key.lower() == wanted}
    if len(values) > 1:
        raise InvalidWebhook(f"header {name} is given more than once with different values")
    return next(iter(values), None)
