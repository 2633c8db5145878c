"""The payment lifecycle: which status may follow which. Pure; no I/O."""

from __future__ import annotations

import enum
from typing import Final


class PaymentStatus(enum.StrEnum):
    """Where a payment stands."""

    PENDING = "pending"
    """Written before any gateway call; a gateway is being asked."""
    INITIATED = "initiated"
    """A gateway accepted it; waiting for the payer (the vendor's webhook)."""
    UNKNOWN = "unknown"
    """Sent to a gateway, no usable answer: reconciliation settles it."""
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    """No gateway took it: declined, or none could be reached."""
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


S = PaymentStatus

TRANSITIONS: Final[dict[PaymentStatus, frozenset[PaymentStatus]]] = {
    S.PENDING: frozenset({S.INITIATED, S.UNKNOWN, S.REJECTED, S.PAID, S.FAILED, S.EXPIRED}),
    S.INITIATED: frozenset({S.PAID, S.FAILED, S.EXPIRED}),
    S.UNKNOWN: frozenset({S.INITIATED, S.PAID, S.FAILED, S.EXPIRED, S.REJECTED}),
    # Only a rejection because no gateway could be reached is retried; a decline is final.
    S.REJECTED: frozenset({S.PENDING}),
    S.PAID: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.FAILED: frozenset(),
    S.EXPIRED: frozenset(),
    S.REFUNDED: frozenset(),
}
"""Every allowed change of status. Anything not listed is forbidden."""

REFUNDABLE: Final = frozenset({S.PAID, S.PARTIALLY_REFUNDED})

SETTLED_AS_PAID: Final = frozenset({S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED})
"""Statuses in which the payer has paid; a late ``paid`` notification confirms them."""

WEBHOOK_TARGETS: Final = frozenset({S.PAID, S.FAILED, S.EXPIRED})
"""The statuses a vendor's notification can move a payment to."""


def can_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    """Tell whether the lifecycle lets a payment move from ``current`` to ``target``."""
    return target in TRANSITIONS[current]


class WebhookVerdict(enum.StrEnum):
    """What a vendor's notification does to a payment."""

    APPLY = "apply"
    REPEAT = "repeat"
    """It says what we already know: acknowledged, nothing changes."""
    CONTRADICTS = "contradicts"
    """The lifecycle forbids it: refused, recorded."""


def judge_webhook(current: PaymentStatus, reported: PaymentStatus) -> WebhookVerdict:
    """Decide what a notification reporting ``reported`` does to a payment in ``current``."""
    if reported == current or (reported is S.PAID and current in SETTLED_AS_PAID):
        return WebhookVerdict.REPEAT
    if reported in WEBHOOK_TARGETS and can_transition(current, reported):
        return WebhookVerdict.APPLY
    return WebhookVerdict.CONTRADICTS
