"""What the API answers: the views of payments, refunds and their history, and the bodies of
the other answers. Views are made from stored records, so what is stored and what is shown can
differ (a payment's merchant and claimed amounts are not shown)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from payments_platform.lifecycle import AttemptOutcome, DeliveryStatus, PaymentStatus
from payments_platform.records import Attempt, Event, NotificationSent, PaymentHistory
from payments_platform.resources import CaptureView, PaymentView, RefundView


class AttemptView(msgspec.Struct, frozen=True, kw_only=True):
    """One call to a gateway on behalf of the payment: why that gateway, and how it ended."""

    id: int
    gateway: str
    reason: str
    outcome: AttemptOutcome
    error: str | None
    external_id: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptView:
        """The view of a stored attempt."""
        return msgspec.convert(attempt, cls, from_attributes=True)


class EventView(msgspec.Struct, frozen=True, kw_only=True):
    """An entry of the payment's audit trail: a state change, a webhook, a routing decision."""

    id: int
    kind: str
    """``status_changed``, ``routing_decision``, ``webhook``, ``webhook_replayed``,
    ``refund_requested``, ``refund_<status>``, ..."""
    from_status: PaymentStatus | None
    to_status: PaymentStatus | None
    gateway: str | None
    external_id: str | None
    accepted: bool | None
    reason: str | None
    body_sha256: str | None
    detail: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def of(cls, event: Event) -> EventView:
        """The view of a stored event."""
        return msgspec.convert(event, cls, from_attributes=True)


class DeliveryView(msgspec.Struct, frozen=True, kw_only=True):
    """A notification's delivery to one of the merchant's endpoints."""

    endpoint: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class NotificationView(msgspec.Struct, frozen=True, kw_only=True):
    """An event the merchant was (or is being) notified of."""

    id: str
    type: str
    sequence: int
    created_at: datetime
    deliveries: list[DeliveryView]

    @classmethod
    def of(cls, sent: NotificationSent) -> NotificationView:
        """The view of a stored notification and its deliveries."""
        event = sent.notification
        return cls(
            id=event.id,
            type=event.type,
            sequence=event.sequence,
            created_at=event.created_at,
            deliveries=[
                msgspec.convert(delivery, DeliveryView, from_attributes=True)
                for delivery in sent.deliveries
            ],
        )


class PaymentDetail(msgspec.Struct, frozen=True, kw_only=True):
    """A payment with its gateway attempts, refunds, audit trail and notifications."""

    payment: PaymentView
    attempts: list[AttemptView]
    refunds: list[RefundView]
    events: list[EventView]
    notifications: list[NotificationView]
    captures: list[CaptureView]
    """The captures of a payment taken with manual capture, oldest first."""

    @classmethod
    def of(cls, found: PaymentHistory) -> PaymentDetail:
        """The view of a payment's history."""
        return cls(
            payment=PaymentView.of(found.payment),
            attempts=[AttemptView.of(attempt) for attempt in found.attempts],
            refunds=[RefundView.of(refund, found.payment) for refund in found.refunds],
            events=[EventView.of(event) for event in found.events],
            notifications=[NotificationView.of(sent) for sent in found.notifications],
            captures=[CaptureView.of(capture, found.payment) for capture in found.captures],
        )


class PaymentList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of payments, newest first."""

    payments: list[PaymentView]
    next_cursor: str | None
    """Send it back as ``cursor`` for the next page; null on the last page."""


class RefundAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a refund request."""

    ok: bool
    refund: RefundView
    payment: PaymentView


class CaptureAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a capture request."""

    ok: bool
    capture: CaptureView
    payment: PaymentView


class WebhookAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a vendor's webhook."""

    ok: bool
    changed: bool
    payment_id: uuid.UUID
    """The payment's reference at the gateway (the platform's own id)."""
    status: PaymentStatus


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """Liveness, or readiness with its checks."""

    status: str
    checks: dict[str, str] = msgspec.field(default_factory=dict)


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem details body; ``code`` is stable and documented in docs/api.md."""

    type: str
    """``urn:payments:problem:<code>``."""
    title: str
    status: Annotated[int, msgspec.Meta(ge=400, le=599)]
    detail: str
    code: str
    instance: str | None = None
    """The path of the request."""
    field: str | None = None
    """The offending field, when one is to blame."""
    payment: PaymentView | None = None
    """The payment, with ``payment-declined`` and ``no-gateway-available``."""
    payment_status: PaymentStatus | None = None
    """Where the payment stands, with ``payment-not-refundable`` and
    ``transition-not-allowed``."""
    refundable_fractions: int | None = None
    """What is left to refund, with ``refund-exceeds-balance``."""
    refund_id: uuid.UUID | None = None
    """The refund, with ``refund-declined`` and ``gateway-unavailable``."""
