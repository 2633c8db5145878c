"""A payment's timeline: every stored fact, merged by time, each read at a glance."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from payments_platform.jobs import Job, JobKind, JobStatus
from payments_platform.lifecycle import AttemptOutcome, DeliveryStatus, PaymentStatus
from payments_platform.records import (
    Attempt,
    Delivery,
    Event,
    Notification,
    NotificationSent,
    Payment,
    PaymentHistory,
)
from payments_platform.web.console.timeline import BAD, OK, WARN, payment_timeline

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PAYMENT_ID = uuid.uuid4()


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def event(event_id: int, kind: str, ms: int, **fields: Any) -> Event:
    values: dict[str, Any] = {
        "from_status": None,
        "to_status": None,
        "gateway": None,
        "external_id": None,
        "accepted": None,
        "reason": None,
        "body_sha256": None,
        "detail": None,
    }
    values.update(fields)
    return Event(id=event_id, kind=kind, created_at=at(ms), **values)


def history(
    events: list[Event], attempts: list[Attempt], sent: list[NotificationSent] | None = None
) -> PaymentHistory:
    payment = Payment(
        id=PAYMENT_ID,
        merchant=None,
        client_id=PAYMENT_ID,
        currency="AED",
        amount_minor=100,
        status=PaymentStatus.PAID,
        gateway="soap",
        external_id="soappay_1",
        refund_claimed_minor=0,
        refunded_minor=0,
        failure_code=None,
        metadata={},
        description=None,
        created_at=T0,
        updated_at=T0,
    )
    return PaymentHistory(
        payment=payment, attempts=attempts, refunds=[], events=events, notifications=sent or []
    )


DECISION = {
    "strategy": "priority",
    "currency": "AED",
    "order": [
        {"gateway": "soap", "weight": 1.0, "health": 1.0, "breaker": "closed", "share": 1.0},
    ],
    "skipped": [
        {"gateway": "json", "weight": 2.0, "health": 0.2, "breaker": "open", "share": 0.0},
    ],
}


def test_the_whole_story_in_time_order() -> None:
    events = [
        event(
            1, "routing_decision", 1, reason="priority strategy, 1 candidate(s)", detail=DECISION
        ),
        event(
            2,
            "status_changed",
            30,
            from_status="pending",
            to_status="initiated",
            accepted=True,
            gateway="soap",
            reason="accepted by soap",
        ),
        event(
            3,
            "webhook",
            50,
            gateway="soap",
            accepted=True,
            reason="soap reports paid",
            body_sha256="f" * 64,
            detail={"status": "paid"},
        ),
        event(
            4,
            "operator_action",
            70,
            reason="alice retried dead reconcile job 7",
            detail={"operator": "alice", "action": "retry_job"},
        ),
        event(5, "something_new", 80, reason="a kind from a later version", detail={"x": 1}),
    ]
    attempt = Attempt(
        id=9,
        gateway="soap",
        reason="priority 1 in config order, breaker closed",
        outcome=AttemptOutcome.ACCEPTED,
        error=None,
        external_id="soappay_1",
        started_at=at(2),
        finished_at=at(25),
    )
    job = Job(
        id=7,
        kind=JobKind.RECONCILE,
        payment_id=PAYMENT_ID,
        refund_id=None,
        delivery_id=None,
        status=JobStatus.DONE,
        attempts=1,
        max_attempts=8,
        run_at=at(60),
        locked_by=None,
        locked_until=None,
        last_error=None,
        trace_parent=None,
        created_at=at(3),
        updated_at=at(60),
    )

    entries = payment_timeline(history(events, [attempt]), [job])

    assert [e.kind for e in entries] == [
        "routing",
        "attempt",
        "job",
        "status",
        "webhook",
        "operator",
        "event",
    ]
    routing, tried, _job, status, webhook, operator, unknown = entries
    assert [(c.gateway, c.breaker, c.skipped) for c in routing.candidates] == [
        ("soap", "closed", False),
        ("json", "open", True),
    ]
    assert tried.title == "attempt 9 at soap: accepted"
    assert ("took", "23 ms") in tried.details
    assert status.title == "status pending → initiated"
    assert status.tone == OK
    assert webhook.title == "webhook accepted"
    assert ("reports", "paid") in webhook.details
    assert operator.title == "operator alice: retry_job"
    assert unknown.title == "something new"
    assert ("x", "1") in unknown.details


def test_refused_webhooks_and_refusals_to_move_read_as_such() -> None:
    events = [
        event(
            1,
            "status_changed",
            10,
            from_status="paid",
            to_status="failed",
            accepted=False,
            reason="soap reports failed; not applied: the payment is paid",
        ),
        event(2, "webhook", 20, gateway="soap", accepted=False, reason="signature mismatch"),
    ]
    early = [event(3, "webhook", 5, gateway="soap", accepted=False, reason="no payment yet")]

    entries = payment_timeline(history(events, []), [], early)

    assert [e.title for e in entries] == [
        "webhook refused",
        "status paid → failed (not applied)",
        "webhook refused",
    ]
    assert entries[1].tone == WARN
    assert entries[2].tone == BAD


def test_an_attempt_without_an_end_says_so() -> None:
    attempt = Attempt(
        id=1,
        gateway="json",
        reason="r",
        outcome=AttemptOutcome.IN_FLIGHT,
        error=None,
        external_id=None,
        started_at=at(0),
        finished_at=None,
    )

    [entry] = payment_timeline(history([], [attempt]), [])

    assert ("took", "no recorded end") in entry.details


def _delivery(endpoint: str, status: DeliveryStatus, **fields: Any) -> Delivery:
    values: dict[str, Any] = {
        "attempts": 1,
        "last_status_code": 200,
        "last_error": None,
        "delivered_at": None,
    }
    values.update(fields)
    return Delivery(
        id=1,
        notification_id="evt_1",
        endpoint=endpoint,
        status=status,
        created_at=at(40),
        updated_at=at(41),
        **values,
    )


def test_a_notification_shows_each_delivery_and_a_dead_one_reads_as_bad() -> None:
    notification = Notification(
        id="evt_1",
        payment_id=PAYMENT_ID,
        merchant=None,
        type="payment.paid",
        sequence=2,
        payload={},
        created_at=at(40),
    )
    deliveries = [
        _delivery("shop", DeliveryStatus.DELIVERED),
        _delivery("backup", DeliveryStatus.DEAD, attempts=8, last_status_code=500),
    ]

    [entry] = payment_timeline(
        history([], [], [NotificationSent(notification=notification, deliveries=deliveries)]), []
    )

    assert entry.kind == "notification"
    assert entry.title == "merchant NOT notified (delivery dead): payment.paid (#2)"
    assert entry.tone == BAD
    assert ("to shop", "delivered after 1 attempt(s), last answer HTTP 200") in entry.details
    assert ("to backup", "dead after 8 attempt(s), last answer HTTP 500") in entry.details


@pytest.mark.parametrize(
    ("statuses", "title"),
    [
        ([DeliveryStatus.DELIVERED], "merchant notified: payment.paid (#2)"),
        (
            [DeliveryStatus.DELIVERED, DeliveryStatus.PENDING],
            "notification pending: payment.paid (#2)",
        ),
        ([], "event recorded (no endpoint takes it): payment.paid (#2)"),
    ],
    ids=["delivered", "pending", "no-endpoint"],
)
def test_a_notification_reads_as_notified_only_once_every_delivery_arrived(
    statuses: list[DeliveryStatus], title: str
) -> None:
    notification = Notification(
        id="evt_1",
        payment_id=PAYMENT_ID,
        merchant=None,
        type="payment.paid",
        sequence=2,
        payload={},
        created_at=at(40),
    )
    deliveries = [_delivery(f"shop-{n}", status) for n, status in enumerate(statuses)]
    [entry] = payment_timeline(
        history([], [], [NotificationSent(notification=notification, deliveries=deliveries)]), []
    )
    assert entry.title == title


def test_an_adaptive_decision_shows_each_candidate_s_learned_score_and_segment() -> None:
    decision = {
        "strategy": "adaptive",
        "currency": "EUR",
        "segment": "EUR 10000-99999",
        "explored": True,
        "order": [
            {"gateway": "new", "weight": 1.0, "health": 1.0, "breaker": "closed", "share": 0.05},
            {
                "gateway": "acme",
                "weight": 2.0,
                "health": 1.0,
                "breaker": "closed",
                "share": 0.95,
                "score": 0.93,
                "samples": 200,
                "scored_in": "EUR 10000-99999",
            },
            {
                "gateway": "flaky",
                "weight": 1.0,
                "health": 0.4,
                "breaker": "closed",
                "share": 0.0,
                "score": 0.41,
                "samples": 35,
                "scored_in": "EUR",
                "eliminated": True,
            },
        ],
        "skipped": [],
    }
    events = [event(1, "routing_decision", 1, reason="adaptive strategy", detail=decision)]

    [entry] = payment_timeline(history(events, []), [])

    assert entry.title == (
        "routing decision for EUR 10000-99999: adaptive strategy (the first chosen to explore)"
    )
    new, acme, flaky = entry.candidates
    assert (new.score, new.samples) == (None, 0)
    assert (acme.score, acme.samples, acme.scored_in) == (0.93, 200, "EUR 10000-99999")
    assert (flaky.scored_in, flaky.eliminated) == ("EUR", True)
