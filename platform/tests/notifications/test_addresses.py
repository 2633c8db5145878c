"""The pure rules of notifications: which addresses are public, how a notification is signed,
how long deliveries are retried, which endpoint wants which event."""

import random
import time

import pytest
from payments_platform.config import NotificationEndpoint, NotificationSettings
from payments_platform.lifecycle import PaymentStatus
from payments_platform.notifications.addresses import AddressRefused, check_url, is_public
from payments_platform.notifications.endpoints import Notifier
from payments_platform.notifications.events import EVENT_TYPES, payment_event
from payments_platform.notifications.signing import (
    SignatureRefused,
    new_secret,
    signed_headers,
    verify,
)
from standardwebhooks import Webhook


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.7", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address to refuse, not one to bind
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.7", False),
    ],
)
def test_only_public_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://merchant.example/hook", True),
        ("http://merchant.example/hook", False),
        ("https://127.0.0.1/hook", False),
        ("https://[::1]:8443/hook", False),
        ("ftp://merchant.example/hook", False),
        ("https:///hook", False),
    ],
)
def test_a_production_url_is_https_to_a_name_or_a_public_address(url: str, allowed: bool) -> None:
    if allowed:
        check_url(url, allow_http=False, allow_private=False)
    else:
        with pytest.raises(AddressRefused):
            check_url(url, allow_http=False, allow_private=False)


def test_a_signature_verifies_with_the_standard_webhooks_library_and_with_ours() -> None:
    secret = new_secret()
    body = b'{"type": "payment.paid"}'
    now = int(time.time())
    headers = signed_headers(secret, "evt_1", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "payment.paid"}
    verify(secret, headers, body, now=now)
    for broken in [
        {**headers, "webhook-signature": headers["webhook-signature"][:-4] + "AAA="},
        {**headers, "webhook-id": "evt_2"},
        signed_headers(new_secret(), "evt_1", now, body),
    ]:
        with pytest.raises(SignatureRefused):
            verify(secret, broken, body, now=now)
    with pytest.raises(SignatureRefused):
        verify(secret, headers, body, now=now + 301)


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


def test_every_status_but_pending_and_cancelling_is_an_event() -> None:
    assert payment_event(PaymentStatus.PENDING) is None
    assert payment_event(PaymentStatus.CANCELLING) is None
    assert payment_event(PaymentStatus.CANCELLED) == "payment.cancelled"
    assert {payment_event(s) for s in PaymentStatus} - {None} <= EVENT_TYPES
    assert len(EVENT_TYPES) == 11
