"""The payment search form: what an operator typed, read into the listing's filters. Pure.

Every field is optional; an empty one matches anything. Times are UTC, as a browser's
``datetime-local`` field sends them (``2026-12-01T10:00``). A search by id is a search of its
own: an id names a payment by the platform's id or by the id its client gave, whatever else is
filled in. Amounts are in the currency's units (``12.50``) when the search names a currency,
and in minor units (``1250``) when it does not: 12.50 is 1250 fils but 13 yen and 12500 fils of
a dinar, so a bare decimal amount would mean something else in each currency.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from payments_plugins import MAX_MINOR_UNITS, Amount
from payments_plugins.money import is_currency

from payments_platform.lifecycle import PaymentStatus
from payments_platform.store.listing import (
    CURSOR_PATTERN,
    EVERYONE,
    Cursor,
    Everyone,
    PaymentFilter,
)
from payments_platform.store.text import unstorable_text
from payments_platform.web.client_input import METADATA_KEY

FIELDS = (
    "id",
    "merchant",
    "status",
    "gateway",
    "currency",
    "external_id",
    "metadata_key",
    "metadata_value",
    "description",
    "min_amount",
    "max_amount",
    "created_after",
    "created_before",
)
"""The form's fields, as the query string names them."""
_CURRENCY = re.compile(r"[A-Z]{3}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_MINOR_UNITS = re.compile(r"[0-9]{1,16}")
MAX_TEXT = 200
"""The longest text a field is searched for (ids, descriptions, metadata values)."""
_SHOWN = 40
_LABELS = {"min_amount": "amount from", "max_amount": "amount to"}


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
    errors = storable(values)
    if errors:
        # Nothing else is read from text the store could not hold (a NUL, an overlong value).
        return Search(values, errors, None, EVERYONE, PaymentFilter(), None)
    currency = _currency(values["currency"], errors)
    filters = PaymentFilter(
        status=_status(values["status"], errors),
        gateway=values["gateway"] or None,
        currency=currency,
        external_id=values["external_id"] or None,
        created_after=moment(values["created_after"], "created after", errors),
        created_before=moment(values["created_before"], "created before", errors),
        metadata=_metadata(values["metadata_key"], values["metadata_value"], errors),
        description=values["description"] or None,
        min_amount_minor=_amount(values["min_amount"], "amount from", currency, errors),
        max_amount_minor=_amount(values["max_amount"], "amount to", currency, errors),
    )
    if (
        filters.min_amount_minor is not None
        and filters.max_amount_minor is not None
        and filters.min_amount_minor > filters.max_amount_minor
    ):
        errors.append("the amount from is more than the amount to")
    return Search(
        values=values,
        errors=errors,
        any_id=_any_id(values["id"], errors),
        merchant=_merchant(values["merchant"], errors),
        filters=filters,
        after=_cursor((query.get("cursor") or "").strip(), errors),
    )


def storable(values: Mapping[str, str]) -> list[str]:
    """What is wrong with fields no search could be made of: text the store cannot hold (a NUL
    character), or longer than :data:`MAX_TEXT` characters; named by field."""
    errors = []
    for name, text in values.items():
        label = _LABELS.get(name, name.replace("_", " "))
        if why := unstorable_text(text):
            errors.append(f"{label} {why}")
        elif len(text) > MAX_TEXT:
            errors.append(f"{label} has {len(text)} characters, more than {MAX_TEXT}")
    return errors


def shown(text: str) -> str:
    """What an error message quotes of the text it is about: its start, at most."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "\N{HORIZONTAL ELLIPSIS}")


def _any_id(text: str, errors: list[str]) -> uuid.UUID | None:
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        errors.append(f"{shown(text)} is not a payment id (a UUID)")
        return None


def _merchant(text: str, errors: list[str]) -> str | Everyone:
    if text and not _NAME.fullmatch(text):
        errors.append(f"{shown(text)} is not a merchant name")
    return text if text and _NAME.fullmatch(text) else EVERYONE


def _status(text: str, errors: list[str]) -> PaymentStatus | None:
    if not text:
        return None
    try:
        return PaymentStatus(text)
    except ValueError:
        errors.append(f"{shown(text)} is not a payment status")
        return None


def _currency(text: str, errors: list[str]) -> str | None:
    if text and not _CURRENCY.fullmatch(text.upper()):
        errors.append(f"{shown(text)} is not a currency code (three letters)")
        return None
    return text.upper() or None


def _metadata(key: str, value: str, errors: list[str]) -> tuple[tuple[str, str], ...]:
    if not key and not value:
        return ()
    if not key:
        errors.append("a metadata value needs the key it is under")
    elif not METADATA_KEY.fullmatch(key):
        errors.append(
            f"metadata key {shown(key)} is not one a payment can have"
            " (1 to 40 letters, digits or _ . : -)"
        )
    return ((key, value),)


def _amount(text: str, label: str, currency: str | None, errors: list[str]) -> int | None:
    """An amount in minor units: typed in the currency's units when there is a currency, in
    minor units when there is none."""
    if not text:
        return None
    if currency is None:
        if not _MINOR_UNITS.fullmatch(text) or int(text) > MAX_MINOR_UNITS:
            errors.append(
                f"{label} {shown(text)} is not an amount in minor units (1250): choose a"
                " currency to type it in its units (12.50)"
            )
            return None
        return int(text)
    if not is_currency(currency):
        errors.append(f"{label} needs a currency the platform knows, and {currency} is not one")
        return None
    try:
        return Amount.parse(f"{text} {currency}").minor
    except ValueError:
        example = Amount(1250, currency)
        places = f"at most {example.exponent}" if example.exponent else "no"
        errors.append(
            f"{label} {shown(text)} is not an amount in {currency}: write it as"
            f" {example.decimal_text()}, with {places} decimal places"
        )
        return None


def _cursor(text: str, errors: list[str]) -> Cursor | None:
    if not text:
        return None
    if not re.fullmatch(CURSOR_PATTERN, text):
        errors.append("the page asked for is not one this search gave")
        return None
    return Cursor.decode(text)


def moment(text: str, label: str, errors: list[str]) -> datetime | None:
    """A time typed in a form (UTC unless it says its offset); an error naming ``label``."""
    if not text:
        return None
    try:
        typed = datetime.fromisoformat(text)
        # A time without an offset is UTC, as every time the console shows.
        return typed.replace(tzinfo=UTC) if typed.tzinfo is None else typed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 with an offset east of UTC
        errors.append(f"{label} {shown(text)} is not a time (2026-12-01T10:00, UTC)")
        return None
