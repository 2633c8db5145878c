"""Who may use the client API, and which payments each caller may see.

A payment belongs to the merchant whose API key created it; a merchant sees, refunds and
replays only its own (another merchant's payment is "not found", never "forbidden": the answer
must not reveal that it exists). While the client API is open (``security.auth = "none"``) the
caller is nobody in particular and sees every payment.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from payments_platform.records import Payment

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


def may_see(payment: Payment, merchant: str | None) -> bool:
    """Whether the caller ``merchant`` may see the payment: its own, or any while the API is
    open (``merchant`` is None)."""
    return merchant is None or payment.merchant == merchant
