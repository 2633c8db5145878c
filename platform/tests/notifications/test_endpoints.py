"""The merchants' endpoints of a process (``notifications/endpoints``): which endpoint wants
which event, and how long a delivery is retried."""

from __future__ import annotations

import random

import pytest
from payments_platform.config import NotificationEndpoint, NotificationSettings
from payments_platform.notifications.endpoints import Notifier
from payments_platform.notifications.signing import new_secret


class ShortestJitter(random.Random):
    """Every wait draws its shortest jitter."""

    def uniform(self, a: float, b: float) -> float:
        return a


@pytest.mark.parametrize("retry_for", [60.0, 3600.0, 90_000.0, 7 * 86_400.0])
def test_deliveries_are_retried_for_at_least_as_long_as_the_settings_say(retry_for: float) -> None:
    notifier = Notifier(settings=NotificationSettings(retry_for_seconds=retry_for), endpoints={})
    shortest = ShortestJitter()
    waited = sum(notifier.backoff(n, shortest) for n in range(1, notifier.max_attempts))
    assert waited >= retry_for
    assert waited - notifier.backoff(notifier.max_attempts - 1, shortest) < retry_for


def test_each_endpoint_gets_its_merchants_events_of_the_types_it_asked_for() -> None:
    secret = new_secret()
    notifier = Notifier.of(
        NotificationSettings(
            endpoints={
                "all": NotificationEndpoint(
                    url="https://a.example", secret=secret, merchant="shop"
                ),
                "paid": NotificationEndpoint(
                    url="https://b.example", secret=secret, merchant="shop", events=["payment.paid"]
                ),
                "other": NotificationEndpoint(
                    url="https://c.example", secret=secret, merchant="bar"
                ),
                "off": NotificationEndpoint(
                    url="https://d.example", secret=secret, merchant="shop", enabled=False
                ),
                "self": NotificationEndpoint(url="/simulators/merchant/n", secret=secret),
            }
        ),
        "http://127.0.0.1:8080",
    )
    assert notifier.wanting("shop", "payment.paid") == ["all", "paid"]
    assert notifier.wanting("shop", "refund.failed") == ["all"]
    assert notifier.wanting(None, "payment.paid") == ["self"]
    assert notifier.endpoints["self"].url == "http://127.0.0.1:8080/simulators/merchant/n"
