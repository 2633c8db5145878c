"""Who may use the client API, and which payments each caller may see.

A payment belongs to the merchant whose API key created it, and a merchant's ids are its own:
the client's payment id and refund id are idempotency keys *per merchant*. Two merchants may use
the same UUID for two payments, and neither learns anything of the other's from any answer: a
merchant finds, refunds and repeats only its own payments (another's is simply not there). The
platform keeps its own id beside the client's (:func:`payment_key`, :func:`refund_key`); that is
the reference gateways get, unique across merchants. While the client API is open
(``security.auth = "none"``) the caller is nobody in particular and the two ids are the same.

API keys are generated once, configured as hashes, and checked in constant time. A key is 32
random bytes, URL-safe base64, prefixed ``pay_`` so that it is recognisable in a leak scan. Keys
are random, not chosen by people, so a plain SHA-256 is the right hash: there is nothing for a
slow hash to protect against. Every configured hash is compared with ``hmac.compare_digest`` and
none is skipped, so the time taken says nothing about which key (or merchant) came close.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_KEYS_OF_MERCHANTS = uuid.UUID("5d0f7c1e-3b8a-4c52-9e61-2f4a8b7d9c30")
"""The namespace the platform's own ids are derived in (UUIDv5): fixed forever, since every
stored payment's id depends on it."""

KEY_PREFIX = "pay_"
HASH_PREFIX = "sha256:"
KEY_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_KEY_LENGTH = 200


def new_key() -> str:
    """A fresh API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """The form a key is configured in: ``sha256:<hex>``."""
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Keyring:
    """Which merchant each configured key hash belongs to."""

    entries: tuple[tuple[bytes, str], ...]

    @classmethod
    def of(cls, hashes_by_merchant: Mapping[str, Sequence[str]]) -> Keyring:
        """Build from ``{merchant: ["sha256:...", ...]}``."""
        entries = tuple(
            (bytes.fromhex(hashed.removeprefix(HASH_PREFIX)), merchant)
            for merchant, hashes in hashes_by_merchant.items()
            for hashed in hashes
        )
        return cls(entries)

    def merchant_for(self, authorization: str | None) -> str | None:
        """The merchant whose key an ``Authorization: Bearer <key>`` header carries, if any."""
        if not authorization:
            return None
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key or len(key) > _MAX_KEY_LENGTH:
            return None
        presented = hashlib.sha256(key.encode()).digest()
        found: str | None = None
        for hashed, merchant in self.entries:
            if hmac.compare_digest(presented, hashed) and found is None:
                found = merchant
        return found


def payment_key(merchant: str | None, client_id: uuid.UUID) -> uuid.UUID:
    """The platform's own id of the payment ``merchant`` calls ``client_id``."""
    return (
        client_id if merchant is None else uuid.uuid5(_KEYS_OF_MERCHANTS, f"{merchant}/{client_id}")
    )


def refund_key(merchant: str | None, client_refund_id: uuid.UUID) -> uuid.UUID:
    """The platform's own id of the refund ``merchant`` calls ``client_refund_id``."""
    if merchant is None:
        return client_refund_id
    return uuid.uuid5(_KEYS_OF_MERCHANTS, f"{merchant}/refund/{client_refund_id}")


def capture_key(merchant: str | None, client_capture_id: uuid.UUID) -> uuid.UUID:
    """The platform's own id of the capture ``merchant`` calls ``client_capture_id``."""
    if merchant is None:
        return client_capture_id
    return uuid.uuid5(_KEYS_OF_MERCHANTS, f"{merchant}/capture/{client_capture_id}")
