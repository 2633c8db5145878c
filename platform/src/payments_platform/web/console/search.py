"""The payment search form: what an operator typed, read into the listing's filters. Pure.

Every field is optional; an empty one matches anything. Times are UTC, as a browser's
``datetime-local`` field sends them (``2026-12-01T10:00``). A search by id is a search of its
own: an id names a payment by the platform's id or by the id its client gave, whatever else is
filled in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from payments_platform.lifecycle import PaymentStatus
from payments_platform.store.listing import (
    CURSOR_PATTERN,
    EVERYONE,
    Cursor,
    Everyone,
    PaymentFilter,
)

FIELDS = (
    "id",
    "merchant",
    "status",
    "gateway",
    "currency",
    "external_id",
    "metadata_key",
    "metadata_value",
    "created_after",
    "created_before",
)
"""The form's fields, as the query string names them."""
_CURRENCY = re.compile(r"[A-Z]{3}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class Search:
    """A search as the operator filled it in, and what it asks the listing for."""

    values: dict[str, str]
    """What the form shows again: each field as typed, trimmed."""
    errors: list[str]
    any_id: uuid.UUID | None
    merchant: str | Everyone
    filters: PaymentFilter
    after: Cursor | None

    def query(self, cursor: Cursor | None = None) -> str:
        """The query string of this search (at ``cursor``'s page), for links."""
        kept = {name: value for name, value in self.values.items() if value}
        if cursor is not None:
            kept["cursor"] = cursor.encode()
        return urlencode(kept)


def read_search(query: Mapping[str, str]) -> Search:
    """Read the form's fields from a query string; what cannot be read is an error named."""
    values = {name: (query.get(name) or "").strip() for name in FIELDS}
    errors: list[str] = []
    filters = PaymentFilter(
        status=_status(values["status"], errors),
        gateway=values["gateway"] or None,
        currency=_currency(values["currency"], errors),
        external_id=values["external_id"] or None,
        created_after=_moment(values["created_after"], "created after", errors),
        created_before=_moment(values["created_before"], "created before", errors),
        metadata=_metadata(values["metadata_key"], values["metadata_value"], errors),
    )
    return Search(
        values=values,
        errors=errors,
        any_id=_any_id(values["id"], errors),
        merchant=_merchant(values["merchant"], errors),
        filters=filters,
        after=_cursor((query.get("cursor") or "").strip(), errors),
    )


def _any_id(text: str, errors: list[str]) -> uuid.UUID | None:
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        errors.append(f"{text!r} is not a payment id (a UUID)")
        return None


def _merchant(text: str, errors: list[str]) -> str | Everyone:
    if text and not _NAME.fullmatch(text):
        errors.append(f"{text!r} is not a merchant name")
    return text if text and _NAME.fullmatch(text) else EVERYONE


def _status(text: str, errors: list[str]) -> PaymentStatus | None:
    if not text:
        return None
    try:
        return PaymentStatus(text)
    except ValueError:
        errors.append(f"{text!r} is not a payment status")
        return None


def _currency(text: str, errors: list[str]) -> str | None:
    if text and not _CURRENCY.fullmatch(text.upper()):
        errors.append(f"{text!r} is not a currency code (three letters)")
    return text.upper() or None


def _metadata(key: str, value: str, errors: list[str]) -> tuple[tuple[str, str], ...]:
    if not key and not value:
        return ()
    if not key:
        errors.append("a metadata value needs the key it is under")
    return ((key, value),)


def _cursor(text: str, errors: list[str]) -> Cursor | None:
    if not text:
        return None
    if not re.fullmatch(CURSOR_PATTERN, text):
        errors.append("the page asked for is not one this search gave")
        return None
    return Cursor.decode(text)


def _moment(text: str, label: str, errors: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        errors.append(f"{label} {text!r} is not a time (2026-12-01T10:00, UTC)")
        return None
    # A time without an offset is UTC, as every time the console shows.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
