"""What an endpoint's latest deliveries say of it (``notifications/health``): counted as each
stands, answer times from the durations recorded (none guessed for those without), and the
time from an event to its delivery from the stored times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payments_platform.lifecycle import DeliveryStatus
from payments_platform.notifications.health import endpoint_health
from payments_platform.records import Delivery

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _delivery(
    number: int,
    status: DeliveryStatus,
    *,
    attempts: int = 1,
    duration_ms: int | None = None,
    delivered_after: float | None = None,
) -> Delivery:
    created = NOW - timedelta(minutes=number)
    return Delivery(
        id=100 - number,
        notification_id=f"evt_{number}",
        endpoint="shop",
        status=status,
        attempts=attempts,
        last_status_code=None,
        last_error=None if status is DeliveryStatus.DELIVERED else f"failure {number}",
        delivered_at=None
        if delivered_after is None
        else created + timedelta(seconds=delivered_after),
        created_at=created,
        updated_at=created,
        last_duration_ms=duration_ms,
    )


def test_an_endpoint_without_deliveries_says_nothing() -> None:
    health = endpoint_health([])
    assert (health.looked_at, health.delivered, health.failing, health.waiting) == (0, 0, 0, 0)
    assert health.answer_median_ms is None
    assert health.answer_slowest_ms is None
    assert health.delivered_after_median_s is None
    assert health.last_delivered_at is None
    assert health.last_failure is None


def test_the_latest_deliveries_are_counted_timed_and_their_latest_failure_named() -> None:
    latest = [
        _delivery(1, DeliveryStatus.PENDING, attempts=0),  # not tried yet
        _delivery(2, DeliveryStatus.PENDING, attempts=3, duration_ms=10_000),  # retrying
        _delivery(3, DeliveryStatus.DELIVERED, duration_ms=40, delivered_after=1.5),
        _delivery(4, DeliveryStatus.DEAD, attempts=9, duration_ms=30),
        _delivery(5, DeliveryStatus.DELIVERED, duration_ms=20, delivered_after=0.5),
        # Delivered before durations were recorded: counted, not timed.
        _delivery(6, DeliveryStatus.DELIVERED, delivered_after=90.0),
    ]
    health = endpoint_health(latest)

    assert (health.looked_at, health.delivered, health.failing, health.waiting) == (6, 3, 2, 1)
    assert (health.timed, health.answer_median_ms, health.answer_slowest_ms) == (4, 35, 10_000)
    assert health.delivered_after_median_s == 1.5
    assert health.last_delivered_at == NOW - timedelta(minutes=3) + timedelta(seconds=1.5)
    assert health.last_failure == latest[1]
