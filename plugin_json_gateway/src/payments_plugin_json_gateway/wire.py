"""The vendor's wire format: the JSON bodies exchanged with its API, as msgspec Structs.

Bodies the vendor receives (requests and webhooks it sends us) forbid unknown fields, so a
typo is an error rather than a silently ignored field; answers from the vendor tolerate extra
fields, which vendors add over time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

NonBlank = Annotated[str, Meta(min_length=1, max_length=255, pattern=r"\S")]
"""An id: not blank, and at most 255 characters (what the platform stores)."""
Reference = Annotated[str, Meta(min_length=1, max_length=200)]
"""The caller's idempotency reference: our payment or refund id."""
VendorStatus = Literal[
    "initiated", "authorized", "paid", "failed", "expired", "cancelled", "voided"
]
WebhookStatus = Literal["paid", "authorized", "failed", "expired"]
CaptureMode = Literal["automatic", "manual"]
AwareTime = Annotated[datetime, Meta(tz=True)]
MAX_DESCRIPTION_LENGTH = 1000
"""The longest description the vendor takes."""


class InitiateBody(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """``POST /initiate-payment``; ``return_url`` and ``description`` are left out when there
    are none."""

    amount: str
    reference: Reference
    return_url: str | None = None
    """Where the vendor's payment page sends the payer back (with ``payment_id``)."""
    description: str | None = None
    """What the payment page shows the payer."""
    capture: CaptureMode = "automatic"
    """``manual``: the payer authorizes, and the payment is captured with ``POST
    /payments/{id}/captures``; left out for ``automatic``."""


class CaptureBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /payments/{id}/captures``: ``reference`` is our capture id, the vendor's
    idempotency reference; ``final`` releases what stays uncaptured."""

    amount: str
    reference: Reference
    final: bool = False


class RefundBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /refunds``."""

    payment_id: NonBlank
    amount: str
    reference: Reference


class CreatedAnswer(msgspec.Struct, frozen=True):
    """The answer to an accepted refund."""

    id: NonBlank


class InitiatedAnswer(msgspec.Struct, frozen=True):
    """The answer to an accepted initiate: the payment's id, and where its payer pays."""

    id: NonBlank
    redirect_url: str | None = None
    """The vendor's payment page of the payment; vendors that predate it leave it out."""


class PaymentAnswer(msgspec.Struct, frozen=True):
    """The answer to a status lookup or a cancel (its ``amount`` is not needed, so not
    decoded)."""

    id: NonBlank
    reference: str
    status: VendorStatus
    authorized: str | None = None
    """What is authorized, for a payment taken with manual capture (``"100.00 AED"``)."""
    captured: str | None = None
    """What was captured of it in all."""
    authorization_expires_at: AwareTime | None = None
    """When the vendor lets the authorization lapse."""


class CaptureAnswer(msgspec.Struct, frozen=True):
    """The answer to a capture, or to a capture lookup by reference."""

    id: NonBlank
    reference: str
    payment_id: str


class RefundAnswer(msgspec.Struct, frozen=True):
    """The answer to a refund lookup by reference: a refund the vendor holds has gone through."""

    id: NonBlank
    reference: str
    payment_id: str


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str | None = None
    message: str | None = None


class ErrorAnswer(msgspec.Struct, frozen=True):
    """``{"error": {"code": ..., "message": ...}}``, the body of a refusal."""

    error: ErrorDetail


class WebhookBody(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """The body of a webhook the vendor posts to the platform."""

    external_id: NonBlank
    status: WebhookStatus
    reference: uuid.UUID | None = None
    """The reference the payment was initiated under (our payment id); vendors that predate it
    leave it out."""
