"""Text from outside (clients' notes and filters, vendor ids, decline codes, messages) as the
store can hold it.

PostgreSQL text holds no NUL character (nor does a JSON value it reads as text), and a string
with an unpaired surrogate has no UTF-8 form; ids and codes have bounded columns. A client's
text that cannot be stored is refused, a vendor's id that does not fit is no usable answer, free
text is mended.
"""

from __future__ import annotations

import re
from typing import Final

MAX_EXTERNAL_ID_LENGTH: Final = 255
"""The longest vendor id the platform stores (``payments.external_id`` and the like)."""
MAX_FAILURE_CODE_LENGTH: Final = 64


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(text: str) -> str | None:
    """Why ``text`` cannot be stored as it is on every backend, or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "contains a NUL character" if found[0] == "\x00" else "contains an unpaired surrogate"


def unstorable_id(vendor_id: str) -> str | None:
    """Why a vendor's id cannot be stored as it is, or None."""
    if not 0 < len(vendor_id) <= MAX_EXTERNAL_ID_LENGTH:
        return f"has {len(vendor_id)} characters (1 to {MAX_EXTERNAL_ID_LENGTH} expected)"
    return unstorable_text(vendor_id)


def decline_code(vendor_code: str | None) -> str:
    """The vendor's decline code as stored (bounded, no NUL), or ``declined``."""
    return (vendor_code or "").replace("\x00", "")[:MAX_FAILURE_CODE_LENGTH] or "declined"


def storable_text(text: str | None) -> str | None:
    """Free text from outside (a vendor's message) as it can be stored: NUL becomes U+FFFD."""
    return None if text is None else text.replace("\x00", "\ufffd")
