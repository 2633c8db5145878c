"""What a simulated vendor talks about and keeps: the words of the control protocol (see
``payments_plugins.testing.control``), its notifications, and its payments and refunds."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from payments_plugins.money import Amount

CallKind = Literal["initiate", "refund", "status", "cancel"]
"""What a vendor call counts as in ``GET /_simulator/calls`` (refund lookups are ``status``;
``cancel`` since 2.0)."""
Operation = Literal["initiate", "refund", "any"]
NotifiedStatus = Literal["paid", "failed", "expired"]


class Misbehaviour(enum.StrEnum):
    """What a simulator does with a vendor call whose amount has a behaviour set."""

    UNAVAILABLE = "unavailable_503"
    """Refuse as the vendor does when it processed nothing (e.g. HTTP 503); record nothing."""
    DECLINE = "decline"
    """Decline with the vendor's decline code; record nothing."""
    ERROR_AFTER_PROCESSING = "error_500"
    """Record the payment or refund, then fail in a way that does not say what was done."""
    TIMEOUT = "timeout"
    """Record, then hold the answer back until the caller gives up."""
    SLOW = "slow"
    """Hold the call ``seconds`` before processing it, as a vendor under load does, then
    process it and answer; a caller that gave up meanwhile does not stop it (the request is in
    the vendor's queue). Since 1.1."""
    GARBAGE = "garbage"
    """Record, then answer success with a body that is not the vendor's format."""


@dataclass(frozen=True)
class Notification:
    """A webhook as the vendor posts it."""

    headers: Mapping[str, str]
    body: bytes


@dataclass(kw_only=True)
class SimulatedRefund:
    """A refund the simulated vendor made."""

    id: str
    reference: str
    payment_id: str
    amount: Amount

    def to_json(self) -> dict[str, str]:
        """The refund as ``GET /_simulator/payments`` lists it."""
        return {
            "id": self.id,
            "reference": self.reference,
            "payment_id": self.payment_id,
            "amount": self.amount.format(),
        }


@dataclass(kw_only=True)
class SimulatedPayment:
    """A payment the simulated vendor holds."""

    id: str
    reference: str
    amount: Amount
    status: str = "initiated"
    """``initiated``, ``paid``, ``failed``, ``expired`` or ``cancelled`` (since 2.0)."""
    refunds: list[SimulatedRefund] = field(default_factory=list)
    return_url: str | None = None
    """Where the payment page sends the payer back, as the vendor's API received it. Since
    2.0."""
    description: str | None = None
    """What the payment is for, in the merchant's words, as the vendor's API received it; the
    payment page shows it. Since 2.0."""
    payer_step: str | None = None
    """The name of the step the payer is at on the payment page after pressing Pay (a 3-D
    Secure challenge, say); None before Pay. Since 2.0."""
    payer_notice: str | None = None
    """What the payment page tells the payer next time it shows (a code that was wrong, why
    the payment failed). Since 2.0."""

    @property
    def refundable_minor(self) -> int:
        """What is left to refund, in minor units."""
        return self.amount.minor - sum(refund.amount.minor for refund in self.refunds)

    def to_json(self) -> dict[str, str]:
        """The payment as the control endpoints show it, without its refunds."""
        return {
            "id": self.id,
            "reference": self.reference,
            "status": self.status,
            "amount": self.amount.format(),
        }

    def to_full_json(self) -> dict[str, Any]:
        """The payment as ``GET /_simulator/payments`` lists it, with its refunds, its return
        URL and its description."""
        return self.to_json() | {
            "refunds": [refund.to_json() for refund in self.refunds],
            "return_url": self.return_url,
            "description": self.description,
        }
