"""The event types a merchant is notified of, one for every status a payment or a refund
reaches. Pure."""

from __future__ import annotations

from typing import Final

from payments_platform.lifecycle import CaptureStatus, PaymentStatus, RefundStatus

NOTIFIED_PAYMENT_STATUSES: Final = (
    PaymentStatus.INITIATED,
    PaymentStatus.PAID,
    PaymentStatus.FAILED,
    PaymentStatus.EXPIRED,
    PaymentStatus.UNKNOWN,
    PaymentStatus.REJECTED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.CANCELLED,
    PaymentStatus.AUTHORIZED,
    PaymentStatus.PARTIALLY_CAPTURED,
    PaymentStatus.VOIDED,
)
"""``pending`` and ``cancelling`` are left out: a payment is in them only until the answer to
its request."""
NOTIFIED_REFUND_STATUSES: Final = (RefundStatus.SUCCEEDED, RefundStatus.FAILED)
NOTIFIED_CAPTURE_STATUSES: Final = (CaptureStatus.SUCCEEDED, CaptureStatus.FAILED)

EVENT_TYPES: Final = frozenset(
    [f"payment.{status}" for status in NOTIFIED_PAYMENT_STATUSES]
    + [f"refund.{status}" for status in NOTIFIED_REFUND_STATUSES]
    + [f"capture.{status}" for status in NOTIFIED_CAPTURE_STATUSES]
)


def payment_event(status: PaymentStatus) -> str | None:
    """The event a payment reaching ``status`` makes, if any."""
    return f"payment.{status}" if status in NOTIFIED_PAYMENT_STATUSES else None


def refund_event(status: RefundStatus) -> str | None:
    """The event a refund reaching ``status`` makes, if any."""
    return f"refund.{status}" if status in NOTIFIED_REFUND_STATUSES else None


def capture_event(status: CaptureStatus) -> str | None:
    """The event a capture reaching ``status`` makes, if any."""
    return f"capture.{status}" if status in NOTIFIED_CAPTURE_STATUSES else None
