"""An outage on the console in a real browser (chromium, driven by Playwright): the real server
in the demo profile, and a ``payments worker`` beside it on the same database. The JSON vendor
goes down; within seconds the last five minutes show its calls failing (where the hour would
still count its earlier successes), and the attention bar shows its breaker open in one of the
two processes, each of which the overview lists. The vendor comes back; once a payment is
answered by it, the overview says when it recovered. The worker stops; its breakers go.

Which chromium, and what happens without one, is ``tests/browsers.py``'s to say.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from .server_process import ServerProcess, payments_serve, payments_worker
from .test_console_browser import (
    DEMO_OVERRIDES,
    expect_attention,
    sign_in,
    start_payment,
    vendor,
)

pytestmark = pytest.mark.browser

OPEN_SECONDS = 10
# A breaker that opens after two failures out of three calls, and stays open long enough for
# the attention bar to be seen saying so (it then lets one trial call through).
OUTAGE_OVERRIDES = {
    **DEMO_OVERRIDES,
    "PAYMENTS_ROUTING__BREAKER__MINIMUM_CALLS": "3",
    "PAYMENTS_ROUTING__BREAKER__OPEN_SECONDS": str(OPEN_SECONDS),
    "PAYMENTS_ROUTING__BREAKER__HALF_OPEN_CALLS": "1",
}
SHOWN_WITHIN_MS = 10_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with payments_serve(tmp_path, env=OUTAGE_OVERRIDES) as served:
        yield served


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


def _port(server: ServerProcess) -> str:
    return server.base_url.rsplit(":", 1)[1]


def test_an_outage_shows_within_seconds_and_its_recovery_once_a_call_is_answered(
    page: Page, server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    # A worker process on the same database (the demo's, in the same folder), whose gateways
    # reach the server's simulators.
    worker_env = {**OUTAGE_OVERRIDES, "PAYMENTS_SERVER__PORT": _port(server)}
    with payments_worker(tmp_path, None, env=worker_env):
        sign_in(page, server)
        json_row = page.locator('tr[data-gateway="json"]')
        json_chart = page.locator('[data-gateway-chart="json"]')
        # Each process's breaker of each gateway: the server's and the worker's.
        expect(json_row.locator("[data-breaker]")).to_have_count(2, timeout=SHOWN_WITHIN_MS)
        expect(json_chart.locator("li[data-process]")).to_have_count(2)
        expect(json_chart).to_contain_text("(this process)")

        assert start_payment(api, "AED", 4200)["gateway"] == "json"
        vendor(api, "json", "down")
        # json fails twice (its breaker opens), SOAP takes all four.
        for _ in range(4):
            assert start_payment(api, "AED", 1500)["gateway"] == "soap"

        # The last five minutes, refreshing themselves: two of json's three calls failed.
        expect(json_row.locator("[data-recent-failed]")).to_have_text("2", timeout=SHOWN_WITHIN_MS)
        expect(json_row.locator("[data-recent-calls]")).to_have_text("3")
        expect(json_row.locator("[data-recent-success]")).to_have_text("33%")
        expect(json_chart.locator('[data-run="failing"]')).to_contain_text("failing since")
        # The server's breaker opened, the worker's (it made no call) did not.
        expect_attention(page, "breaker-json", "json's breaker is open in 1 of 2 process(es)")

        vendor(api, "json", "up")
        # Once the breaker's cool-down has passed, its trial payment goes to json.
        deadline = time.monotonic() + OPEN_SECONDS + 20
        while start_payment(api, "AED", 1600)["gateway"] != "json":
            assert time.monotonic() < deadline, "no payment went to json after it came up"
            time.sleep(0.5)
        recovered = json_chart.locator('[data-run="recovered"]')
        expect(recovered).to_contain_text("recovered at", timeout=SHOWN_WITHIN_MS)
        expect(json_chart).not_to_contain_text("failing since")
        expect(page.locator('[data-attention="breaker-json"]')).to_have_count(0)

    # The worker stopped and deleted its breakers: only the server's are left.
    expect(json_row.locator("[data-breaker]")).to_have_count(1, timeout=SHOWN_WITHIN_MS)
