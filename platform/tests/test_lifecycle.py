"""The payment lifecycle, table-driven."""

import pytest
from payments_platform.lifecycle import (
    AGE_LIMIT,
    CANCELLED_HERE,
    NO_GATEWAY_AVAILABLE,
    NOT_RECEIVED,
    TRANSITIONS,
    PaymentStatus,
    WebhookVerdict,
    as_reported_for,
    can_transition,
    captured_in_full,
    judge_webhook,
    knows_change,
    status_after_capture,
    status_after_refund,
)

S = PaymentStatus

ALLOWED = [
    (S.PENDING, S.INITIATED),
    (S.PENDING, S.UNKNOWN),
    (S.PENDING, S.REJECTED),
    (S.INITIATED, S.PAID),
    (S.INITIATED, S.FAILED),
    (S.INITIATED, S.EXPIRED),
    (S.UNKNOWN, S.INITIATED),
    (S.UNKNOWN, S.PAID),
    (S.UNKNOWN, S.REJECTED),
    (S.PAID, S.PARTIALLY_REFUNDED),
    (S.PAID, S.REFUNDED),
    (S.PARTIALLY_REFUNDED, S.REFUNDED),
    (S.REJECTED, S.PENDING),
    (S.INITIATED, S.CANCELLING),
    (S.INITIATED, S.CANCELLED),
    (S.CANCELLING, S.CANCELLED),
    (S.CANCELLING, S.INITIATED),
    (S.CANCELLING, S.PAID),
    (S.INITIATED, S.AUTHORIZED),
    (S.UNKNOWN, S.AUTHORIZED),
    (S.AUTHORIZED, S.PARTIALLY_CAPTURED),
    (S.AUTHORIZED, S.PAID),
    (S.AUTHORIZED, S.CANCELLING),
    (S.AUTHORIZED, S.EXPIRED),
    (S.CANCELLING, S.VOIDED),
    (S.CANCELLING, S.AUTHORIZED),
    (S.PARTIALLY_CAPTURED, S.PARTIALLY_CAPTURED),
    (S.PARTIALLY_CAPTURED, S.PAID),
]

FORBIDDEN = [
    (S.PAID, S.CANCELLED),
    (S.PAID, S.CANCELLING),
    (S.CANCELLED, S.INITIATED),
    (S.PENDING, S.CANCELLING),
    (S.UNKNOWN, S.CANCELLING),
    (S.PAID, S.FAILED),
    (S.PAID, S.INITIATED),
    (S.FAILED, S.PAID),
    (S.EXPIRED, S.PAID),
    (S.REFUNDED, S.PAID),
    (S.REFUNDED, S.PARTIALLY_REFUNDED),
    (S.INITIATED, S.REFUNDED),
    (S.INITIATED, S.PENDING),
    (S.PARTIALLY_CAPTURED, S.VOIDED),
    (S.PARTIALLY_CAPTURED, S.CANCELLING),
    (S.PARTIALLY_CAPTURED, S.EXPIRED),
    (S.PARTIALLY_CAPTURED, S.PARTIALLY_REFUNDED),
    (S.AUTHORIZED, S.REFUNDED),
    (S.VOIDED, S.AUTHORIZED),
    (S.VOIDED, S.PAID),
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transitions(current: PaymentStatus, target: PaymentStatus) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transitions(current: PaymentStatus, target: PaymentStatus) -> None:
    assert not can_transition(current, target)


def test_every_status_has_a_row_and_final_states_have_no_exit() -> None:
    assert set(TRANSITIONS) == set(PaymentStatus)
    for final in (S.FAILED, S.EXPIRED, S.REFUNDED, S.CANCELLED, S.VOIDED):
        assert not TRANSITIONS[final]


@pytest.mark.parametrize(
    ("current", "reported", "verdict"),
    [
        (S.INITIATED, S.PAID, WebhookVerdict.APPLY),
        (S.INITIATED, S.FAILED, WebhookVerdict.APPLY),
        (S.INITIATED, S.EXPIRED, WebhookVerdict.APPLY),
        (S.UNKNOWN, S.PAID, WebhookVerdict.APPLY),
        (S.PAID, S.PAID, WebhookVerdict.REPEAT),
        (S.FAILED, S.FAILED, WebhookVerdict.REPEAT),
        (S.REFUNDED, S.PAID, WebhookVerdict.REPEAT),
        (S.PARTIALLY_REFUNDED, S.PAID, WebhookVerdict.REPEAT),
        (S.PAID, S.FAILED, WebhookVerdict.CONTRADICTS),
        (S.FAILED, S.PAID, WebhookVerdict.CONTRADICTS),
        (S.EXPIRED, S.PAID, WebhookVerdict.CONTRADICTS),
        (S.REFUNDED, S.FAILED, WebhookVerdict.CONTRADICTS),
        (S.INITIATED, S.REFUNDED, WebhookVerdict.CONTRADICTS),
    ],
)
def test_webhook_verdicts(
    current: PaymentStatus, reported: PaymentStatus, verdict: WebhookVerdict
) -> None:
    assert judge_webhook(current, reported) is verdict


@pytest.mark.parametrize(
    ("current", "failure_code", "reported", "verdict"),
    [
        # Given up on by the platform's own judgement: the vendor's "paid" moves the payment.
        (S.REJECTED, NOT_RECEIVED, S.PAID, WebhookVerdict.RECOVER),
        (S.REJECTED, NO_GATEWAY_AVAILABLE, S.PAID, WebhookVerdict.RECOVER),
        (S.EXPIRED, AGE_LIMIT, S.PAID, WebhookVerdict.RECOVER),
        (S.CANCELLED, CANCELLED_HERE, S.PAID, WebhookVerdict.RECOVER),
        # Cancelled by its vendor: a later "paid" contradicts the vendor's own word.
        (S.CANCELLED, None, S.PAID, WebhookVerdict.CONTRADICTS),
        # The payer paid while the cancel was on its way to the vendor: the vendor's word.
        (S.CANCELLING, None, S.PAID, WebhookVerdict.APPLY),
        (S.CANCELLING, None, S.CANCELLED, WebhookVerdict.APPLY),
        (S.INITIATED, None, S.CANCELLED, WebhookVerdict.APPLY),
        # ... and its "failed" or "expired" agrees that no money moved.
        (S.REJECTED, NOT_RECEIVED, S.FAILED, WebhookVerdict.REPEAT),
        (S.EXPIRED, AGE_LIMIT, S.EXPIRED, WebhookVerdict.REPEAT),
        (S.EXPIRED, AGE_LIMIT, S.FAILED, WebhookVerdict.REPEAT),
        # Ended on the vendor's own word: a later "paid" contradicts it, as before.
        (S.EXPIRED, None, S.PAID, WebhookVerdict.CONTRADICTS),
        (S.FAILED, None, S.PAID, WebhookVerdict.CONTRADICTS),
        (S.REJECTED, "do_not_honour", S.PAID, WebhookVerdict.CONTRADICTS),
        (S.REJECTED, "declined", S.PAID, WebhookVerdict.CONTRADICTS),
        # A code of the platform's on a status it cannot recover from changes nothing.
        (S.PAID, NOT_RECEIVED, S.FAILED, WebhookVerdict.CONTRADICTS),
        (S.REJECTED, NOT_RECEIVED, None, WebhookVerdict.CONTRADICTS),
    ],
)
def test_a_payment_the_platform_gave_up_on_is_recovered_only_by_the_vendors_paid(
    current: PaymentStatus,
    failure_code: str | None,
    reported: PaymentStatus | None,
    verdict: WebhookVerdict,
) -> None:
    """The vendor's books are the truth about money: a payment the platform rejected or expired
    on its own judgement moves to paid when its vendor says it took the money; one the vendor
    itself failed, expired or declined does not."""
    assert judge_webhook(current, reported, failure_code) is verdict


@pytest.mark.parametrize(
    ("amount", "refunded", "status"),
    [
        (1000, 1, S.PARTIALLY_REFUNDED),
        (1000, 999, S.PARTIALLY_REFUNDED),
        (1000, 1000, S.REFUNDED),
    ],
)
def test_a_refund_decides_whether_the_payment_is_partly_or_wholly_refunded(
    amount: int, refunded: int, status: PaymentStatus
) -> None:
    """The lifecycle decides the refund-driven statuses too (the store used to, in SQL)."""
    assert status_after_refund(amount, refunded) is status


@pytest.mark.parametrize("refunded", [0, -1, 1001])
def test_a_refund_of_nothing_or_more_than_the_payment_decides_nothing(refunded: int) -> None:
    with pytest.raises(ValueError, match="refunded"):
        status_after_refund(1000, refunded)


def test_every_change_the_lifecycle_knows_is_a_transition_or_a_recovery() -> None:
    assert knows_change(S.PENDING, S.INITIATED)
    assert knows_change(S.EXPIRED, S.PAID)  # only for a payment the platform gave up on
    assert not knows_change(S.PAID, S.FAILED)
    assert not knows_change(S.UNKNOWN, S.UNKNOWN)


@pytest.mark.parametrize(
    ("captured", "final", "status"),
    [
        (400, False, S.PARTIALLY_CAPTURED),
        (400, True, S.PAID),
        (1000, False, S.PAID),
        (1000, True, S.PAID),
    ],
)
def test_a_capture_decides_whether_the_payment_is_partly_captured_or_paid(
    captured: int, final: bool, status: PaymentStatus
) -> None:
    assert status_after_capture(1000, captured, final=final) is status


@pytest.mark.parametrize("captured", [0, -1, 1001])
def test_a_capture_of_nothing_or_more_than_authorized_decides_nothing(captured: int) -> None:
    with pytest.raises(ValueError, match="captured"):
        status_after_capture(1000, captured, final=False)


@pytest.mark.parametrize(
    ("current", "reported", "manual", "means"),
    [
        (S.INITIATED, S.AUTHORIZED, True, S.AUTHORIZED),
        (S.INITIATED, S.AUTHORIZED, False, None),
        (S.INITIATED, S.VOIDED, False, None),
        (S.PARTIALLY_CAPTURED, S.EXPIRED, True, S.PAID),
        (S.PARTIALLY_CAPTURED, S.VOIDED, True, S.PAID),
        (S.AUTHORIZED, S.EXPIRED, True, S.EXPIRED),
        (S.INITIATED, S.PAID, False, S.PAID),
    ],
)
def test_what_a_vendor_s_report_means_depends_on_the_capture_mode_and_what_was_captured(
    current: PaymentStatus, reported: PaymentStatus, manual: bool, means: PaymentStatus | None
) -> None:
    assert as_reported_for(current, reported, manual=manual) is means


def test_the_vendor_s_paid_counts_all_as_captured_unless_the_platform_captured_part() -> None:
    assert captured_in_full(S.PAID, S.INITIATED)
    assert captured_in_full(S.PAID, S.AUTHORIZED)
    assert not captured_in_full(S.PAID, S.PARTIALLY_CAPTURED)
    assert not captured_in_full(S.AUTHORIZED, S.INITIATED)
