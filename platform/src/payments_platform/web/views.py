"""What the API answers: the views of payments, refunds and their history, and the bodies of
the other answers. Views are made from stored records, so what is stored and what is shown can
differ (a payment's merchant and claimed amounts are not shown)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from payments_plugins import Amount

from payments_platform.lifecycle import AttemptOutcome, PaymentStatus, RefundStatus
from payments_platform.records import Attempt, Event, Payment, PaymentHistory, Refund


class PaymentView(msgspec.Struct, frozen=True, kw_only=True):
    """A payment as the API shows it."""

    id: uuid.UUID
    status: PaymentStatus
    amount: str
    amount_fractions: int
    currency: str
    gateway: str | None
    external_id: str | None
    refunded_fractions: int
    refundable_fractions: int
    failure_code: str | None
    metadata: dict[str, str]
    description: str | None
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
            refunded_fractions=payment.refunded_minor,
            refundable_fractions=payment.refundable_minor,
            failure_code=payment.failure_code,
            metadata=payment.metadata,
            description=payment.description,
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


class PaymentDetail(msgspec.Struct, frozen=True, kw_only=True):
    """A payment with its gateway attempts, refunds and audit trail."""

    payment: PaymentView
    attempts: list[AttemptView]
    refunds: list[RefundView]
    events: list[EventView]

    @classmethod
    def of(cls, found: PaymentHistory) -> PaymentDetail:
        """The view of a payment's history."""
        return cls(
            payment=PaymentView.of(found.payment),
            attempts=[AttemptView.of(attempt) for attempt in found.attempts],
            refunds=[RefundView.of(refund, found.payment) for refund in found.refunds],
            events=[EventView.of(event) for event in found.events],
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
