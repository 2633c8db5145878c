"""The event types of notifications (``notifications/events``): every payment status but
``pending`` and ``cancelling`` is one."""

from __future__ import annotations

from payments_platform.lifecycle import PaymentStatus
from payments_platform.notifications.events import EVENT_TYPES, payment_event


def test_every_status_but_pending_and_cancelling_is_an_event() -> None:
    assert payment_event(PaymentStatus.PENDING) is None
    assert payment_event(PaymentStatus.CANCELLING) is None
    assert payment_event(PaymentStatus.CANCELLED) == "payment.cancelled"
    assert {payment_event(s) for s in PaymentStatus} - {None} <= EVENT_TYPES
    assert payment_event(PaymentStatus.AUTHORIZED) == "payment.authorized"
    assert payment_event(PaymentStatus.VOIDED) == "payment.voided"
    assert {"capture.succeeded", "capture.failed"} <= EVENT_TYPES
    assert len(EVENT_TYPES) == 16
