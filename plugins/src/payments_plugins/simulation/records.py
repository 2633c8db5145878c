"""What a simulated vendor talks about and keeps: the words of the control protocol (see
``payments_plugins.testing.control``), its notifications, and its payments, refunds and
captures."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from payments_plugins.money import Amount

CallKind = Literal["initiate", "refund", "status", "cancel", "capture", "void"]
"""What a vendor call counts as in ``GET /_simulator/calls`` (refund and capture lookups are
``status``; ``cancel`` since 2.0; ``capture`` and ``void`` since 2.1)."""
Operation = Literal["initiate", "refund", "capture", "void", "any"]
"""The vendor calls a behaviour applies to (``capture`` and ``void`` since 2.1)."""
NotifiedStatus = Literal["paid", "authorized", "failed", "expired"]
"""What a notification says (``authorized`` since 2.1: the payer completed a payment taken
with manual capture)."""
CaptureModeText = Literal["automatic", "manual"]
"""How a simulated payment is captured: at once, or when the merchant captures it. Since
2.1."""


class Misbehaviour(enum.StrEnum):
    """What a simulator does with a vendor call whose amount has a behaviour set."""

    UNAVAILABLE = "unavailable_503"
    """Refuse as the vendor does when it processed nothing (e.g. HTTP 503); record nothing."""
    DECLINE = "decline"
    """Decline for good with the vendor's decline code (a hard decline: the payer would not
    succeed elsewhere either); record nothing."""
    SOFT_DECLINE = "soft_decline"
    """Decline with the vendor's soft decline code (``VendorSimulator.soft_decline_code``: the
    issuer is unavailable, try again later), which the payer may get past on another gateway;
    record nothing. Since 2.2."""
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
class SimulatedCapture:
    """A capture the simulated vendor made of an authorized payment. Since 2.1."""

    id: str
    reference: str
    payment_id: str
    amount: Amount
    final: bool

    def to_json(self) -> dict[str, Any]:
        """The capture as the vendor's lookups and ``GET /_simulator/payments`` show it."""
        return {
            "id": self.id,
            "reference": self.reference,
            "payment_id": self.payment_id,
            "amount": self.amount.format(),
            "final": self.final,
        }


@dataclass(kw_only=True)
class SimulatedPayment:
    """A payment the simulated vendor holds."""

    id: str
    reference: str
    amount: Amount
    status: str = "initiated"
    """``initiated``, ``paid``, ``failed``, ``expired`` or ``cancelled`` (since 2.0);
    ``authorized`` or ``voided`` (since 2.1) for a payment taken with manual capture, which is
    ``paid`` once fully captured (or finally captured, the rest released)."""
    refunds: list[SimulatedRefund] = field(default_factory=list)
    capture: CaptureModeText = "automatic"
    """How the payment is captured, as the vendor's API received it. Since 2.1."""
    captures: list[SimulatedCapture] = field(default_factory=list)
    """The captures made of it (manual capture). Since 2.1."""
    authorization_expires_at: float | None = None
    """When the vendor lets the authorization lapse (a Unix time), once the payer authorized
    it. Since 2.1."""
    authorization_expired: bool = False
    """The vendor let the authorization lapse: nothing more is captured. Since 2.1."""
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
    def manual(self) -> bool:
        """Whether the payment is captured when the merchant captures it."""
        return self.capture == "manual"

    @property
    def captured_minor(self) -> int:
        """What was captured of it, in minor units: all of it once paid automatically."""
        if not self.manual:
            return self.amount.minor if self.status == "paid" else 0
        return sum(capture.amount.minor for capture in self.captures)

    @property
    def capturable_minor(self) -> int:
        """What is left to capture of an authorization the vendor still holds, in minor
        units: none once a final capture was made, the payment voided or the authorization
        lapsed."""
        if self.status != "authorized":
            return 0
        return self.amount.minor - self.captured_minor

    @property
    def refundable_minor(self) -> int:
        """What is left to refund, in minor units: of what was captured, for a payment taken
        with manual capture."""
        paid = self.captured_minor if self.manual else self.amount.minor
        return paid - sum(refund.amount.minor for refund in self.refunds)

    def to_json(self) -> dict[str, Any]:
        """The payment as the control endpoints show it, without its refunds; a payment taken
        with manual capture also says so, what is authorized and captured, and when its
        authorization lapses."""
        shown: dict[str, Any] = {
            "id": self.id,
            "reference": self.reference,
            "status": self.status,
            "amount": self.amount.format(),
        }
        if self.manual:
            authorized = self.status in ("authorized", "paid") or (
                self.status == "expired" and self.authorization_expires_at is not None
            )
            expires = self.authorization_expires_at
            shown |= {
                "capture": self.capture,
                "authorized": self.amount.format() if authorized else None,
                "captured": Amount(self.captured_minor, self.amount.currency).format(),
                "authorization_expires_at": None
                if expires is None
                else datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"),
            }
        return shown

    def to_full_json(self) -> dict[str, Any]:
        """The payment as ``GET /_simulator/payments`` lists it, with its refunds, its return
        URL and its description."""
        return self.to_json() | {
            "refunds": [refund.to_json() for refund in self.refunds],
            "captures": [capture.to_json() for capture in self.captures],
            "return_url": self.return_url,
            "description": self.description,
        }
