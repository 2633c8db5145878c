"""Where payments, refunds and gateway calls stand, and which status may follow which. Pure.

Every status of the platform is defined here, with its allowed changes, and so is the one map
from what a vendor reports (:class:`~payments_plugins.VendorPaymentStatus`,
:class:`~payments_plugins.VendorRefundStatus`) to the platform's own words.
"""

from __future__ import annotations

import enum
from typing import Final

from payments_plugins import VendorCaptureStatus, VendorPaymentStatus, VendorRefundStatus


class PaymentStatus(enum.StrEnum):
    """Where a payment stands."""

    PENDING = "pending"
    """Written before any gateway call; a gateway is being asked."""
    INITIATED = "initiated"
    """A gateway accepted it; waiting for the payer (the vendor's webhook)."""
    UNKNOWN = "unknown"
    """Sent to a gateway, no usable answer: reconciliation finds out what became of it."""
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    """No gateway took it: declined, or none could be reached."""
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELLING = "cancelling"
    """The client asked to cancel it, and its gateway is being asked to (or reconciliation is
    finding out whether it did)."""
    CANCELLED = "cancelled"
    """Cancelled before the payer paid: by its vendor, or by the platform alone when the
    gateway cannot cancel (``cancelled-here``)."""
    AUTHORIZED = "authorized"
    """A payment taken with manual capture that the payer completed: its vendor holds the
    money until it is captured, voided, or the authorization lapses."""
    PARTIALLY_CAPTURED = "partially_captured"
    """Part of the authorization is captured; more may be (the gateway declares
    ``multiple_captures``)."""
    VOIDED = "voided"
    """The authorization was released before anything was captured of it."""


S = PaymentStatus

TRANSITIONS: Final[dict[PaymentStatus, frozenset[PaymentStatus]]] = {
    S.PENDING: frozenset(
        {S.INITIATED, S.UNKNOWN, S.REJECTED, S.PAID, S.FAILED, S.EXPIRED, S.AUTHORIZED}
    ),
    S.INITIATED: frozenset({S.PAID, S.FAILED, S.EXPIRED, S.CANCELLING, S.CANCELLED, S.AUTHORIZED}),
    S.UNKNOWN: frozenset(
        {S.INITIATED, S.PAID, S.FAILED, S.EXPIRED, S.REJECTED, S.CANCELLED, S.AUTHORIZED}
    ),
    # The vendor's answer to a cancel (or, of an authorized payment, a void) decides:
    # cancelled or voided, or (refused, or never received) as it was, or whatever the payer
    # did first.
    S.CANCELLING: frozenset(
        {S.CANCELLED, S.INITIATED, S.PAID, S.FAILED, S.EXPIRED, S.AUTHORIZED, S.VOIDED}
    ),
    # Captured in part (more may follow), in full or finally (paid), released (voided via
    # cancelling), or lapsed (expired).
    S.AUTHORIZED: frozenset({S.PARTIALLY_CAPTURED, S.PAID, S.CANCELLING, S.VOIDED, S.EXPIRED}),
    # What was captured stays captured: a final capture, or the authorization lapsing, ends a
    # partially captured payment as paid (of what was captured).
    S.PARTIALLY_CAPTURED: frozenset({S.PARTIALLY_CAPTURED, S.PAID}),
    S.VOIDED: frozenset(),
    # Only a rejection because no gateway could be reached is retried; a decline is final.
    S.REJECTED: frozenset({S.PENDING}),
    S.PAID: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.FAILED: frozenset(),
    S.EXPIRED: frozenset(),
    S.REFUNDED: frozenset(),
    S.CANCELLED: frozenset(),
}
"""Every allowed change of a payment's status. Anything not listed is forbidden."""

REFUNDABLE: Final = frozenset({S.PAID, S.PARTIALLY_REFUNDED})
"""Statuses in which a refund may be claimed (while some of the amount is left)."""

CANCELLABLE: Final = frozenset({S.INITIATED, S.AUTHORIZED})
"""Statuses in which a client may cancel a payment: accepted by its gateway, not paid yet, or
authorized and nothing captured (a cancel then voids the authorization). (Pending or unknown:
nobody knows yet whether a vendor holds it; ask again later.)"""

CAPTURABLE: Final = frozenset({S.AUTHORIZED, S.PARTIALLY_CAPTURED})
"""Statuses in which a capture may be claimed (while some of the authorization is left)."""

SETTLED_AS_PAID: Final = frozenset({S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED})
"""Statuses in which the payer has paid; a late ``paid`` notification confirms them."""

WEBHOOK_TARGETS: Final = frozenset(
    {S.PAID, S.FAILED, S.EXPIRED, S.CANCELLED, S.AUTHORIZED, S.VOIDED}
)
"""The statuses a vendor's notification can move a payment to."""

NO_GATEWAY_AVAILABLE: Final = "no-gateway-available"
"""``failure_code`` of a payment no gateway could be reached for."""
NOT_RECEIVED: Final = "not-received"
"""``failure_code`` of a payment its gateway says it never received."""
AGE_LIMIT: Final = "age-limit"
"""``failure_code`` of a payment the platform expired at its age limit while its vendor still
reported it waiting for the payer (not one the vendor expired)."""
CANCELLED_HERE: Final = "cancelled-here"
"""``failure_code`` of a payment its client cancelled whose gateway cannot cancel: the platform
alone ended it, and its vendor may still take the payer's money."""
RETRYABLE_REJECTIONS: Final = frozenset({NO_GATEWAY_AVAILABLE, NOT_RECEIVED})
"""Rejections after which no vendor holds the payment, so the same id may be routed again."""
GIVEN_UP_BY_PLATFORM: Final = frozenset(
    {NO_GATEWAY_AVAILABLE, NOT_RECEIVED, AGE_LIMIT, CANCELLED_HERE}
)
"""``failure_code`` of a payment the platform gave up on by its own judgement, not on its
vendor's word: the vendor may still take the money (an answer that came too late, a payer who
paid after the age limit)."""

RECOVERIES: Final[dict[PaymentStatus, frozenset[PaymentStatus]]] = {
    S.REJECTED: frozenset({S.PAID}),
    S.EXPIRED: frozenset({S.PAID}),
    S.FAILED: frozenset({S.PAID}),
    S.CANCELLED: frozenset({S.PAID}),
}
"""The changes allowed only for a payment the platform gave up on (:data:`GIVEN_UP_BY_PLATFORM`),
when its vendor reports it took the money: the vendor's books are the truth about money."""


def can_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    """Tell whether the lifecycle lets a payment move from ``current`` to ``target``."""
    return target in TRANSITIONS[current]


def knows_change(current: PaymentStatus, target: PaymentStatus) -> bool:
    """Tell whether the lifecycle has the change from ``current`` to ``target`` at all: one of
    :data:`TRANSITIONS`, or one of :data:`RECOVERIES` (allowed only for a payment the platform
    gave up on)."""
    return target in TRANSITIONS[current] or target in RECOVERIES.get(current, frozenset())


def status_after_refund(amount_minor: int, refunded_minor: int) -> PaymentStatus:
    """Where a paid payment of which ``amount_minor`` was captured stands once
    ``refunded_minor`` of it (this refund included) has been refunded."""
    if not 0 < refunded_minor <= amount_minor:
        raise ValueError(f"{refunded_minor} refunded of a payment of {amount_minor}")
    return S.REFUNDED if refunded_minor == amount_minor else S.PARTIALLY_REFUNDED


def status_after_capture(
    authorized_minor: int, captured_minor: int, *, final: bool
) -> PaymentStatus:
    """Where an authorized payment stands once ``captured_minor`` of its ``authorized_minor``
    (this capture included) is captured: paid when the capture is ``final`` or nothing is
    left, else partially captured."""
    if not 0 < captured_minor <= authorized_minor:
        raise ValueError(f"{captured_minor} captured of an authorization of {authorized_minor}")
    return S.PAID if final or captured_minor == authorized_minor else S.PARTIALLY_CAPTURED


def captured_in_full(status: PaymentStatus, from_status: PaymentStatus) -> bool:
    """Tell whether a payment reaching ``status`` from ``from_status`` by its vendor's word
    (not by one of the platform's captures) is captured in full: ``paid`` means all that was
    authorized (the whole amount of an automatic payment) was captured, unless the platform
    captured part of it already (then what it captured is what was paid)."""
    return status is S.PAID and from_status is not S.PARTIALLY_CAPTURED


def holds_authorization(status: PaymentStatus) -> bool:
    """Tell whether a payment reaching ``status`` by its vendor's word has its amount
    authorized (authorized, or paid)."""
    return status in (S.AUTHORIZED, S.PAID)


def as_reported_for(
    current: PaymentStatus, reported: PaymentStatus | None, *, manual: bool
) -> PaymentStatus | None:
    """What a vendor's report of ``reported`` means for a payment in ``current``: an
    authorization is no word about a payment taken with automatic capture (None), and a
    partially captured payment whose authorization lapsed is paid of what was captured."""
    if reported in (S.AUTHORIZED, S.VOIDED) and not manual:
        return None
    if current is S.PARTIALLY_CAPTURED and reported in (S.EXPIRED, S.VOIDED):
        return S.PAID
    return reported


def given_up_by_platform(status: PaymentStatus, failure_code: str | None) -> bool:
    """Tell whether the platform ended the payment on its own judgement, so that its vendor's
    word that it took the money still moves it (:data:`RECOVERIES`)."""
    return status in RECOVERIES and failure_code in GIVEN_UP_BY_PLATFORM


def may_route_again(status: PaymentStatus, failure_code: str | None) -> bool:
    """Tell whether a payment is held by no vendor, so that routing it again cannot charge
    twice."""
    return status is S.REJECTED and failure_code in RETRYABLE_REJECTIONS


class RefundStatus(enum.StrEnum):
    """Where a refund stands."""

    PENDING = "pending"
    """Claimed: its amount is taken out of what is left to refund; the gateway is being asked
    (or a worker will ask it)."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Nothing was paid out; the claim is given back."""
    UNKNOWN = "unknown"
    """Sent, no usable answer: the claim is kept and a job asks the gateway."""


R = RefundStatus

REFUND_TRANSITIONS: Final[dict[RefundStatus, frozenset[RefundStatus]]] = {
    R.PENDING: frozenset({R.SUCCEEDED, R.FAILED, R.UNKNOWN}),
    # Sent again (the vendor never received it), a refund can meet no usable answer again.
    R.UNKNOWN: frozenset({R.SUCCEEDED, R.FAILED, R.UNKNOWN}),
    R.SUCCEEDED: frozenset(),
    # Only a failure before anything reached the vendor is retried, by the client repeating
    # the request; a decline is final.
    R.FAILED: frozenset({R.PENDING}),
}
"""Every allowed change of a refund's status: the first definitive answer stands."""

GATEWAY_UNAVAILABLE: Final = "gateway-unavailable"
"""``failure_code`` of a refund whose gateway could not be reached: nothing was paid out."""
GATEWAY_NOT_ENABLED: Final = "gateway-not-enabled"
"""``failure_code`` of a refund whose payment's gateway is no longer enabled."""
RETRYABLE_REFUND_FAILURES: Final = frozenset({GATEWAY_UNAVAILABLE, GATEWAY_NOT_ENABLED})
"""Refund failures after which no vendor holds the refund, so it may be sent again."""


def refund_has_answer(status: RefundStatus) -> bool:
    """Tell whether a refund has its definitive answer (it succeeded or failed)."""
    return status in (R.SUCCEEDED, R.FAILED)


def refund_may_retry(status: RefundStatus, failure_code: str | None) -> bool:
    """Tell whether a failed refund reached no vendor, so that sending it again under the same
    reference cannot pay out twice."""
    return status is R.FAILED and failure_code in RETRYABLE_REFUND_FAILURES


def refund_can_transition(current: RefundStatus, target: RefundStatus) -> bool:
    """Tell whether a refund may move from ``current`` to ``target``."""
    return target in REFUND_TRANSITIONS[current]


class CaptureStatus(enum.StrEnum):
    """Where a capture stands."""

    PENDING = "pending"
    """Claimed: its amount is taken out of what is left to capture; the gateway is being
    asked, or gave no usable answer yet (a job asks it what became of it)."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Nothing was captured; the claim is given back."""


C = CaptureStatus

CAPTURE_TRANSITIONS: Final[dict[CaptureStatus, frozenset[CaptureStatus]]] = {
    C.PENDING: frozenset({C.SUCCEEDED, C.FAILED}),
    C.SUCCEEDED: frozenset(),
    # Only a failure before anything reached the vendor is retried, by the client repeating
    # the request (the same capture id); a decline is final.
    C.FAILED: frozenset({C.PENDING}),
}
"""Every allowed change of a capture's status: the first definitive answer stands."""


def capture_has_answer(status: CaptureStatus) -> bool:
    """Tell whether a capture has its definitive answer (it succeeded or failed)."""
    return status in (C.SUCCEEDED, C.FAILED)


def capture_may_retry(status: CaptureStatus, failure_code: str | None) -> bool:
    """Tell whether a failed capture reached no vendor, so that sending it again under the
    same reference cannot capture twice."""
    return status is C.FAILED and failure_code in RETRYABLE_REFUND_FAILURES


def capture_can_transition(current: CaptureStatus, target: CaptureStatus) -> bool:
    """Tell whether a capture may move from ``current`` to ``target``."""
    return target in CAPTURE_TRANSITIONS[current]


_CAPTURE_STATUS_OF_VENDOR: Final[dict[VendorCaptureStatus, CaptureStatus | None]] = {
    VendorCaptureStatus.SUCCEEDED: C.SUCCEEDED,
    VendorCaptureStatus.FAILED: C.FAILED,
    # Neither is an answer yet: the vendor is still at it, or never received the capture.
    VendorCaptureStatus.PENDING: None,
    VendorCaptureStatus.NOT_FOUND: None,
}


def capture_status_reported(vendor_status: VendorCaptureStatus) -> CaptureStatus | None:
    """The capture status a vendor's report means; None while it is no definitive answer."""
    return _CAPTURE_STATUS_OF_VENDOR[vendor_status]


class AttemptOutcome(enum.StrEnum):
    """How one call to a gateway ended, which decides what routing and the breaker do next."""

    IN_FLIGHT = "in_flight"
    """Sent (or about to be); a crash here leaves the attempt for reconciliation."""
    ACCEPTED = "accepted"
    DECLINED = "declined"
    """The vendor said no and holds no money for it: not a failure of the gateway. A soft
    decline of a payment may be offered to the next candidate (:class:`DeclineKind`); a hard one
    is final."""
    UNAVAILABLE = "unavailable"
    """The vendor certainly did not process it: the next candidate may be tried."""
    UNKNOWN = "unknown"
    """Sent, no usable answer: never retried elsewhere, reconciled."""


class DeclineKind(enum.StrEnum):
    """Whether the payer may succeed elsewhere after a gateway declined (contract 2.2)."""

    SOFT = "soft"
    """About the vendor or the moment (the issuer unavailable, try again later): a payment is
    offered to its next candidate, within ``routing.soft_decline_attempts``. Only from a
    gateway whose type declares ``Capabilities.soft_declines``."""
    HARD = "hard"
    """About the payer or the card (insufficient funds, a stolen card), and every decline a
    plugin does not say is soft: final."""


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    """Not delivered yet: its job posts it, and retries."""
    DELIVERED = "delivered"
    DEAD = "dead"
    """Not delivered after retrying for as long as the settings say; re-deliverable."""


class WebhookVerdict(enum.StrEnum):
    """What a vendor's notification does to a payment."""

    APPLY = "apply"
    RECOVER = "recover"
    """The vendor took the money of a payment the platform had given up on: applied, and shown
    to the operator."""
    REPEAT = "repeat"
    """It says what we already know: acknowledged, nothing changes."""
    CONTRADICTS = "contradicts"
    """The lifecycle forbids it: refused, recorded."""


_PAYMENT_STATUS_OF_VENDOR: Final[dict[VendorPaymentStatus, PaymentStatus | None]] = {
    VendorPaymentStatus.INITIATED: S.INITIATED,
    VendorPaymentStatus.PAID: S.PAID,
    VendorPaymentStatus.FAILED: S.FAILED,
    VendorPaymentStatus.EXPIRED: S.EXPIRED,
    VendorPaymentStatus.CANCELLED: S.CANCELLED,
    VendorPaymentStatus.AUTHORIZED: S.AUTHORIZED,
    VendorPaymentStatus.VOIDED: S.VOIDED,
    # Says only that the vendor holds no such payment, not where one stands.
    VendorPaymentStatus.NOT_FOUND: None,
}

_REFUND_STATUS_OF_VENDOR: Final[dict[VendorRefundStatus, RefundStatus | None]] = {
    VendorRefundStatus.SUCCEEDED: R.SUCCEEDED,
    VendorRefundStatus.FAILED: R.FAILED,
    # Neither is an answer yet: the vendor is still at it, or never received the refund.
    VendorRefundStatus.PENDING: None,
    VendorRefundStatus.NOT_FOUND: None,
}


def payment_status_reported(vendor_status: VendorPaymentStatus | str) -> PaymentStatus | None:
    """The payment status a vendor's report means; None when it names none (``not_found``,
    or a word the contract does not have)."""
    try:
        return _PAYMENT_STATUS_OF_VENDOR[VendorPaymentStatus(vendor_status)]
    except ValueError:
        return None


def refund_status_reported(vendor_status: VendorRefundStatus) -> RefundStatus | None:
    """The refund status a vendor's report means; None while it is no definitive answer."""
    return _REFUND_STATUS_OF_VENDOR[vendor_status]


def judge_webhook(
    current: PaymentStatus, reported: PaymentStatus | None, failure_code: str | None = None
) -> WebhookVerdict:
    """Decide what a vendor's report (a notification or a status lookup) of ``reported`` does
    to a payment in ``current`` with ``failure_code``."""
    if reported is None:
        return WebhookVerdict.CONTRADICTS
    if given_up_by_platform(current, failure_code):
        if reported in RECOVERIES[current]:
            return WebhookVerdict.RECOVER
        if reported in (S.FAILED, S.EXPIRED):
            # The vendor agrees that no money moved: acknowledged, nothing to change.
            return WebhookVerdict.REPEAT
    if reported == current or (reported is S.PAID and current in SETTLED_AS_PAID):
        return WebhookVerdict.REPEAT
    if reported in WEBHOOK_TARGETS and can_transition(current, reported):
        return WebhookVerdict.APPLY
    return WebhookVerdict.CONTRADICTS
