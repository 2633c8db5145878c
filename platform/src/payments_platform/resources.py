"""A payment and a refund as clients see them: in the API's answers and in the notifications
sent to merchants, the same shape everywhere."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from payments_plugins import Amount, CaptureMode, NextAction

from payments_platform.lifecycle import CaptureStatus, PaymentStatus, RefundStatus
from payments_platform.records import Capture, Payment, Refund


class PaymentView(msgspec.Struct, frozen=True, kw_only=True):
    """A payment as the API shows it."""

    id: uuid.UUID
    status: PaymentStatus
    amount: str
    amount_fractions: int
    currency: str
    gateway: str | None
    external_id: str | None
    capture: CaptureMode
    """``automatic``: paid when the payer pays; ``manual``: authorized when the payer pays,
    captured on the client's request (``POST /payments/{id}/capture``)."""
    authorized_fractions: int
    """What the vendor authorized (the whole amount of a paid automatic payment)."""
    captured_fractions: int
    """What was captured of it: what refunds may give back."""
    refunded_fractions: int
    refundable_fractions: int
    """What is left to refund: captured, less refunded and refunds in flight."""
    failure_code: str | None
    metadata: dict[str, str]
    description: str | None
    return_url: str | None
    """Where the vendor sends the payer back, as the client gave it."""
    next_action: NextAction | None
    """What the payer must do at the vendor for the payment to go on (follow a redirect, or
    act on instructions shown to them); present only while the payment is ``initiated`` and
    the vendor asked for a step."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentView:
        """The view of a stored payment."""
        return cls(
            id=payment.client_id,
            status=payment.status,
            amount=payment.amount.format(),
            amount_fractions=payment.amount_minor,
            currency=payment.currency,
            gateway=payment.gateway,
            external_id=payment.external_id,
            capture=payment.capture_mode,
            authorized_fractions=payment.authorized_minor,
            captured_fractions=payment.captured_minor,
            refunded_fractions=payment.refunded_minor,
            refundable_fractions=payment.refundable_minor,
            failure_code=payment.failure_code,
            metadata=payment.metadata,
            description=payment.description,
            return_url=payment.return_url,
            next_action=payment.payer_action,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )


class RefundView(msgspec.Struct, frozen=True, kw_only=True):
    """A refund as the API shows it."""

    id: uuid.UUID
    payment_id: uuid.UUID
    status: RefundStatus
    amount: str
    amount_fractions: int
    gateway: str
    external_refund_id: str | None
    failure_code: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, refund: Refund, payment: Payment) -> RefundView:
        """The view of a stored refund of ``payment``."""
        return cls(
            id=refund.client_refund_id,
            payment_id=payment.client_id,
            status=refund.status,
            amount=Amount(refund.amount_minor, payment.currency).format(),
            amount_fractions=refund.amount_minor,
            gateway=refund.gateway,
            external_refund_id=refund.external_refund_id,
            failure_code=refund.failure_code,
            created_at=refund.created_at,
            updated_at=refund.updated_at,
        )


class CaptureView(msgspec.Struct, frozen=True, kw_only=True):
    """A capture as the API shows it."""

    id: uuid.UUID
    payment_id: uuid.UUID
    status: CaptureStatus
    amount: str
    amount_fractions: int
    final: bool
    """The last capture of the authorization: the rest was (or is being) released."""
    gateway: str
    external_capture_id: str | None
    failure_code: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, capture: Capture, payment: Payment) -> CaptureView:
        """The view of a stored capture of ``payment``."""
        return cls(
            id=capture.client_capture_id,
            payment_id=payment.client_id,
            status=capture.status,
            amount=Amount(capture.amount_minor, payment.currency).format(),
            amount_fractions=capture.amount_minor,
            final=capture.final,
            gateway=capture.gateway,
            external_capture_id=capture.external_capture_id,
            failure_code=capture.failure_code,
            created_at=capture.created_at,
            updated_at=capture.updated_at,
        )
