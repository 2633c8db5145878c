"""The console's webhooks and merchant endpoints pages in a real browser (chromium, driven by
Playwright) against the real server in the demo profile: an operator follows the attention bar
to the webhooks a vendor's route refused, and from an accepted one to its payment; and, for a
merchant endpoint that refuses every notification until its deliveries are dead, sees them
dead and sends them all again, confirmed, once the endpoint is back.

A delivery is dead only once it has been retried for ``retry_for_seconds``: the endpoints test
sets a few seconds (a risk the configuration page flags, fine for a test) and waits that long,
as the server's own clock runs.

The screenshots are taken here: set ``CONSOLE_SCREENSHOTS=docs/images`` to write them there
(otherwise they go to the test's temporary folder). Which chromium, and what happens without
one, is ``tests/browsers.py``'s to say.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from core_fixtures import NOTIFICATION_SECRET, Receiver
from playwright.sync_api import Dialog, Page, expect

from .server_process import ServerProcess, payments_serve
from .test_console_browser import (
    DEMO_OVERRIDES,
    WAIT_MS,
    expect_attention,
    go_to,
    sign_in,
    start_payment,
    vendor,
)

pytestmark = pytest.mark.browser

SCREENSHOTS_VARIABLE = "CONSOLE_SCREENSHOTS"
DEAD_WITHIN_SECONDS = 60.0
"""Retries for five seconds at least; the backoff's jitter and the worker's polling add some."""
# A merchant endpoint beside the demo's own, retried for a few seconds.
SHOP_OVERRIDES = {
    "PAYMENTS_NOTIFICATIONS__ENDPOINTS__SHOP__SECRET": NOTIFICATION_SECRET,
    "PAYMENTS_NOTIFICATIONS__RETRY_FOR_SECONDS": "5",
    "PAYMENTS_NOTIFICATIONS__BACKOFF_SECONDS": "0.5",
    "PAYMENTS_NOTIFICATIONS__BACKOFF_MAX_SECONDS": "2",
}


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOTS_VARIABLE) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def demo(tmp_path: Path, receiver: Receiver) -> Iterator[ServerProcess]:
    """``payments serve`` in the demo profile, notifying the ``shop`` endpoint (``receiver``)
    too."""
    env = {
        # The payer pays when the test says, so that the vendor notifies the platform.
        **{k: v for k, v in DEMO_OVERRIDES.items() if "PAYER_PAYS_AT_ONCE" not in k},
        **SHOP_OVERRIDES,
        "PAYMENTS_NOTIFICATIONS__ENDPOINTS__SHOP__URL": receiver.url,
    }
    with payments_serve(tmp_path, env=env) as served:
        yield served


@pytest.fixture
def api(demo: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def confirmations(page: Page) -> list[str]:
    """What the console asked the operator to confirm (each one accepted)."""
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return asked


def test_an_operator_follows_refused_webhooks_and_finds_an_accepted_ones_payment(
    page: Page, demo: ServerProcess, api: httpx.Client, screenshots: Path
) -> None:
    paid = start_payment(api, "AED", 2500)
    vendor(api, "json", f"payments/{paid['external_id']}/status", {"status": "paid"})
    for body in (b"not json", b'{"external_id": "nobody-knows", "status": "paid"}'):
        refused = api.post("/external/json-webhook", content=body)
        assert refused.status_code >= 400, refused.text

    sign_in(page, demo)
    expect_attention(page, "refused-json", "webhook(s) refused for json")
    page.locator('[data-attention="refused-json"] a').click()
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    shown = page.locator("tr[data-webhook]")
    expect(shown).to_have_count(2)
    expect(page.locator('tr[data-verdict="accepted"]')).to_have_count(0)
    expect(page.locator("table.webhooks")).to_contain_text("refused")
    expect(page.locator('[data-webhook-counts="json"] [data-refused]')).to_have_text("2")

    go_to(page, "Webhooks")
    accepted = page.locator(f'tr[data-verdict="accepted"]:has(a[href$="{paid["id"]}"])')
    expect(accepted).to_contain_text("json reports paid")
    page.screenshot(path=screenshots / "console-webhooks.png", full_page=True)
    accepted.get_by_role("link").click()
    expect(page.locator("[data-status]")).to_have_text("paid")


def _wait_until_dead(page: Page, expected: int) -> None:
    """Reload the endpoints page until the shop endpoint has ``expected`` dead deliveries and
    none retrying."""
    row = page.locator('tr[data-endpoint="shop"]')
    deadline = time.monotonic() + DEAD_WITHIN_SECONDS
    while True:
        retrying = row.locator("[data-retrying]").inner_text().strip()
        dead = row.locator("[data-dead]").inner_text().strip()
        if (retrying, dead) == ("0", str(expected)):
            return
        assert time.monotonic() < deadline, f"shop: {retrying} retrying, {dead} dead"
        page.wait_for_timeout(2000)
        page.reload()


def test_an_operator_sends_again_every_delivery_an_endpoint_refused_until_it_was_dead(
    page: Page,
    demo: ServerProcess,
    api: httpx.Client,
    receiver: Receiver,
    confirmations: list[str],
    screenshots: Path,
) -> None:
    receiver.answer = 503
    ids = [start_payment(api, "AED", 1000 + n)["id"] for n in range(2)]
    sign_in(page, demo, "/console/endpoints")
    expect(page.get_by_role("heading", name="Merchant endpoints")).to_be_visible()
    # Each payment's event (initiated: its payer has not paid) goes to the shop.
    for payment_id in ids:
        deadline = time.monotonic() + WAIT_MS / 1000
        while not _deliveries_to_shop(api, payment_id):
            assert time.monotonic() < deadline, "the payment's events were not written"
            time.sleep(0.2)
    expected = sum(len(_deliveries_to_shop(api, payment_id)) for payment_id in ids)
    _wait_until_dead(page, expected)
    expect_attention(page, "endpoint-shop", "merchant endpoint shop failing")

    # The attention bar leads to the failing deliveries: dead, each with its last error.
    page.locator('[data-attention="endpoint-shop"] a').click()
    dead = page.locator('tr[data-delivery][data-status="dead"]')
    expect(dead).to_have_count(expected)
    expect(dead.first).to_contain_text("answered 503")
    page.screenshot(path=screenshots / "console-endpoints-dead.png", full_page=True)

    # The endpoint is back: every dead delivery to it is sent again, once confirmed.
    receiver.answer = 204
    resend = page.locator("form[data-resend-dead]")
    resend.get_by_label("Endpoint").select_option("shop")
    resend.get_by_role("button", name="Re-send failed deliveries").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"{expected} dead delivery(ies) will be sent again"
    )
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(receiver.delivered()) < expected:
        assert time.monotonic() < deadline, "the deliveries sent again did not arrive"
        page.wait_for_timeout(200)
    page.goto(f"{demo.base_url}/console/endpoints?endpoint=shop")
    expect(page.locator('tr[data-delivery][data-status="delivered"]')).to_have_count(expected)
    expect(page.locator('tr[data-endpoint="shop"] [data-dead]')).to_have_text("0")

    page.goto(f"{demo.base_url}/console/payments/{ids[0]}")
    expect(page.locator("ol.timeline")).to_contain_text("demo re-sent notification delivery")
    assert confirmations == [
        "Send every dead delivery of the period chosen again? Each payment's log will record"
        " your name."
    ]
    assert {event["data"]["payment"]["id"] for event in receiver.delivered()} == set(ids)


def _deliveries_to_shop(api: httpx.Client, payment_id: str) -> list[dict[str, object]]:
    found = api.get(f"/payments/{payment_id}").json()
    return [
        delivery
        for sent in found.get("notifications", [])
        for delivery in sent["deliveries"]
        if delivery["endpoint"] == "shop"
    ]
