"""Text from outside (vendor ids, decline codes, messages) as the store can hold it.

PostgreSQL text holds no NUL character, and ids and codes have bounded columns; a vendor's id
that does not fit is no usable answer, free text is mended.
"""

from __future__ import annotations

from typing import Final

MAX_EXTERNAL_ID_LENGTH: Final = 255
"""The longest vendor id the platform stores (``payments.external_id`` and the like)."""
MAX_FAILURE_CODE_LENGTH: Final = 64


def unstorable_id(vendor_id: str) -> str | None:
    """Why a vendor's id cannot be stored as it is, or None."""
    if not 0 < len(vendor_id) <= MAX_EXTERNAL_ID_LENGTH:
        return f"has {len(vendor_id)} characters (1 to {MAX_EXTERNAL_ID_LENGTH} expected)"
    if "\x00" in vendor_id:
        return "contains a NUL character"
    return None


def decline_code(vendor_code: str | None) -> str:
    """The vendor's decline code as stored (bounded, no NUL), or ``declined``."""
    return (vendor_code or "").replace("\x00", "")[:MAX_FAILURE_CODE_LENGTH] or "declined"


def storable_text(text: str | None) -> str | None:
    """Free text from outside (a vendor's message) as it can be stored: NUL becomes U+FFFD."""
    return None if text is None else text.replace("\x00", "\ufffd")
