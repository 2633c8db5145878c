"""How a merchant endpoint is doing, from its latest deliveries as stored. Pure.

Only a delivery's last attempt is stored (its status, status code, error, time and duration),
so what is said here is said of the latest deliveries, each as it stands:

* **delivered**, **failing** (failed at least once and not delivered: retrying or dead),
  **waiting** (not tried yet);
* **answer time**: how long each delivery's last attempt took, from sending the notification
  to the endpoint's answer or the failure (recorded from schema revision 0014 on; attempts
  made before have none, and are left out rather than guessed); the median and the slowest;
* **delivered after**: from the event to its delivery, queueing and retries included, read
  from the stored times; the median.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from payments_platform.lifecycle import DeliveryStatus
from payments_platform.records import Delivery


@dataclass(frozen=True)
class EndpointHealth:
    """What an endpoint's latest deliveries say of it."""

    looked_at: int
    """How many of its latest deliveries this is made of."""
    delivered: int
    failing: int
    waiting: int
    answer_median_ms: float | None
    answer_slowest_ms: int | None
    timed: int
    """How many of the deliveries looked at had their last attempt's duration recorded."""
    delivered_after_median_s: float | None
    last_delivered_at: datetime | None
    last_failure: Delivery | None
    """The latest delivery that failed and is not delivered, if any of them did."""


def endpoint_health(latest: Sequence[Delivery]) -> EndpointHealth:
    """What ``latest`` (an endpoint's deliveries, the latest first) say of the endpoint."""
    delivered = [d for d in latest if d.status is DeliveryStatus.DELIVERED]
    failing = [d for d in latest if d.status is not DeliveryStatus.DELIVERED and d.attempts > 0]
    durations = [d.last_duration_ms for d in latest if d.last_duration_ms is not None]
    lags = [
        (d.delivered_at - d.created_at).total_seconds()
        for d in delivered
        if d.delivered_at is not None
    ]
    return EndpointHealth(
        looked_at=len(latest),
        delivered=len(delivered),
        failing=len(failing),
        waiting=sum(1 for d in latest if d.attempts == 0),
        answer_median_ms=statistics.median(durations) if durations else None,
        answer_slowest_ms=max(durations) if durations else None,
        timed=len(durations),
        delivered_after_median_s=statistics.median(lags) if lags else None,
        last_delivered_at=max(
            (d.delivered_at for d in delivered if d.delivered_at is not None), default=None
        ),
        last_failure=failing[0] if failing else None,
    )
