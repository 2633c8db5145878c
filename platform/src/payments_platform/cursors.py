"""The listing's cursors as clients hold them: tamper-evident, and good only for the merchant
they were given to. Pure.

A page ends at a position (:class:`~payments_platform.store.listing.Cursor`: the last payment's
creation time and id). Given to a client as ``next_cursor``, the position is sealed: an
HMAC-SHA256 under the deployment's cursor key covers it and the merchant it was given to, so a
cursor the service never gave (made up, edited, from before an upgrade, or another merchant's)
is refused with a 422 rather than followed. The seal hides nothing and need not: the position
names a payment of the merchant's own, and the listing only ever reads the caller's payments.

The key must be the same in every process of a deployment and survive restarts, or a client
paging through would be refused by the next process it reaches. Every process reads the same
configuration, so the key comes from there: ``security.cursor_secret`` when it is set, otherwise
the API key hashes of every merchant (digests of random keys only the configuration holds, so
the key changes when a key is added or removed, and pages being read then start again). With
the client API open and no keys (the demo) there is no secret to take it from: cursors are
still checked, against mistakes, but anyone who reads this module could seal one, which opens
nothing the open API does not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from payments_platform.store.listing import Cursor

_VERSION: Final = 1
_POSITION = struct.Struct(">Bq16s")
"""The version of the form, the creation time in microseconds since 1970, the payment id."""
_TAG_BYTES: Final = 16
_LABEL = b"payments listing cursor v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR_LENGTH: Final = (4 * (_POSITION.size + _TAG_BYTES) + 2) // 3
"""Characters of a cursor: URL-safe base64, without padding, of the position and its tag."""
CURSOR_PATTERN: Final = f"^[A-Za-z0-9_-]{{{CURSOR_LENGTH}}}$"


class CursorRefused(ValueError):
    """A cursor the service did not give this caller."""


class CursorSeal:
    """Seals the positions given to clients and opens the ones they send back."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_secrets(cls, cursor_secret: str | None, key_hashes: Iterable[str]) -> CursorSeal:
        """The deployment's seal: from its cursor secret, else from every API key hash it
        configures (in any order), else (no secret at all) from a key this module fixes."""
        material = cursor_secret if cursor_secret else "\n".join(sorted(key_hashes))
        return cls(hmac.new(material.encode(), _LABEL, hashlib.sha256).digest())

    def seal(self, cursor: Cursor, merchant: str | None) -> str:
        """The text a client gets for ``cursor``, good only for ``merchant``."""
        micros = (cursor.created_at - _EPOCH) // timedelta(microseconds=1)
        position = _POSITION.pack(_VERSION, micros, cursor.id.bytes)
        return _text(position + self._tag(position, merchant))

    def open(self, text: str, merchant: str | None) -> Cursor:
        """The position a client's cursor names; :class:`CursorRefused` unless this seal made
        it for ``merchant``."""
        try:
            sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            sealed = b""
        position, tag = sealed[: _POSITION.size], sealed[_POSITION.size :]
        if (
            len(sealed) != _POSITION.size + _TAG_BYTES
            # The last character carries two bits no byte uses: any other value of them (or a
            # character outside the alphabet, which decoding skips) is an edited cursor too.
            or _text(sealed) != text
            or not hmac.compare_digest(tag, self._tag(position, merchant))
        ):
            raise CursorRefused(
                f"cursor {text[:60]!r} is not a `next_cursor` this service gave this caller"
                " (cursors from before an upgrade are not taken either): list again without"
                " a cursor"
            )
        _, micros, payment_id = _POSITION.unpack(position)
        return Cursor(_EPOCH + timedelta(microseconds=micros), uuid.UUID(bytes=payment_id))

    def _tag(self, position: bytes, merchant: str | None) -> bytes:
        # A merchant's name is never empty, so b"" stands for nobody (the open API).
        message = position + (merchant or "").encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]


def _text(sealed: bytes) -> str:
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
