"""What the platform knows about a payment, as read from the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from payments_plugins import Amount, CaptureMode, NextAction

from payments_platform.lifecycle import (
    AttemptOutcome,
    CaptureStatus,
    DeliveryStatus,
    PaymentStatus,
    RefundStatus,
)

RecordT = TypeVar("RecordT", bound=msgspec.Struct)


def utc_now() -> datetime:
    """The current time in UTC: every timestamp the platform writes."""
    return datetime.now(UTC)


class Payment(msgspec.Struct, frozen=True, kw_only=True):
    """A payment as stored."""

    id: uuid.UUID
    """The platform's own id: the reference its gateway knows it by."""
    merchant: str | None
    client_id: uuid.UUID
    """The id its client gave: the one the client API shows and looks it up by."""
    currency: str
    amount_minor: int
    status: PaymentStatus
    gateway: str | None
    external_id: str | None
    refund_claimed_minor: int
    refunded_minor: int
    failure_code: str | None
    metadata: dict[str, str]
    """The client's own key-value pairs about the payment."""
    description: str | None
    return_url: str | None = None
    """Where the vendor sends the payer back, as the client gave it."""
    next_action: NextAction | None = None
    """The step the vendor asked of the payer when its gateway accepted the payment; what the
    API shows while the payment waits for the payer (:attr:`payer_action`)."""
    capture_mode: CaptureMode = CaptureMode.AUTOMATIC
    """``manual``: the payer's payment is authorized, and captured on the client's request."""
    authorized_minor: int = 0
    """What its vendor authorized (the whole amount of a paid automatic payment)."""
    capture_claimed_minor: int = 0
    """What captures claimed of the authorization, those in flight included."""
    captured_minor: int = 0
    """What was captured: what refunds may give back."""
    authorization_expires_at: datetime | None = None
    """When the vendor lets the authorization lapse, as it said."""
    created_at: datetime
    updated_at: datetime

    @property
    def manual(self) -> bool:
        """Taken with manual capture."""
        return self.capture_mode is CaptureMode.MANUAL

    @property
    def capturable_minor(self) -> int:
        """What is left to capture, counting captures in flight as taken."""
        return self.authorized_minor - self.capture_claimed_minor

    @property
    def payer_action(self) -> NextAction | None:
        """The next action while the payer is still to take it: only while the payment is
        ``initiated``."""
        return self.next_action if self.status is PaymentStatus.INITIATED else None

    @property
    def amount(self) -> Amount:
        """The amount as money."""
        return Amount(self.amount_minor, self.currency)

    @property
    def refundable_minor(self) -> int:
        """What is left to refund of what was captured, counting refunds in flight as taken."""
        return self.captured_minor - self.refund_claimed_minor


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """One call to one gateway on behalf of a payment."""

    id: int
    gateway: str
    reason: str
    outcome: AttemptOutcome
    error: str | None
    external_id: str | None
    started_at: datetime
    finished_at: datetime | None


class Refund(msgspec.Struct, frozen=True, kw_only=True):
    """A refund of (part of) a payment."""

    id: uuid.UUID
    """The platform's own id: the reference its gateway knows it by."""
    payment_id: uuid.UUID
    merchant: str | None
    client_refund_id: uuid.UUID
    """The refund id its client gave (or was given): the one the client API shows."""
    amount_minor: int
    status: RefundStatus
    gateway: str
    external_refund_id: str | None
    failure_code: str | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Capture(msgspec.Struct, frozen=True, kw_only=True):
    """A capture of (part of) a payment's authorization."""

    id: uuid.UUID
    """The platform's own id: the reference its gateway knows it by."""
    payment_id: uuid.UUID
    merchant: str | None
    client_capture_id: uuid.UUID
    """The capture id its client gave (or was given): the one the client API shows."""
    amount_minor: int
    final: bool
    """The last capture: what stays uncaptured is released."""
    status: CaptureStatus
    gateway: str
    external_capture_id: str | None
    failure_code: str | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """An entry of a payment's append-only audit trail."""

    id: int
    kind: str
    from_status: str | None
    to_status: str | None
    gateway: str | None
    external_id: str | None
    accepted: bool | None
    reason: str | None
    body_sha256: str | None
    detail: dict[str, Any] | None
    created_at: datetime
    payment_id: uuid.UUID | None = None
    """The payment it is about; None for a webhook that named none the platform knows."""


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored."""

    id: str
    payment_id: uuid.UUID
    merchant: str | None
    type: str
    sequence: int
    payload: dict[str, Any]
    created_at: datetime


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """An event's delivery to one endpoint."""

    id: int
    notification_id: str
    endpoint: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_duration_ms: int | None = None
    """How long the last attempt took, from sending to the answer (or the failure); None
    before the first, and for attempts made before schema revision 0014."""


class NotificationSent(msgspec.Struct, frozen=True, kw_only=True):
    """An event notified to the merchant, with its delivery to each endpoint."""

    notification: Notification
    deliveries: list[Delivery]


class PaymentHistory(msgspec.Struct, frozen=True, kw_only=True):
    """A payment with everything that happened to it."""

    payment: Payment
    attempts: list[Attempt]
    refunds: list[Refund]
    events: list[Event]
    notifications: list[NotificationSent] = msgspec.field(default_factory=list)
    captures: list[Capture] = msgspec.field(default_factory=list)
