"""The console's frame in a real browser (chromium, driven by Playwright), each test with a
server of its own: a page whose server went away says so (the parts that refresh themselves
fail, and the page shows "connection lost" with the time of its last update, instead of its
last numbers as if they were live); and every page fits a phone's width.

Which chromium, and what happens without one, is ``tests/browsers.py``'s to say.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from .server_process import payments_serve
from .test_console_browser import sign_in

pytestmark = pytest.mark.browser

QUICK = {"PAYMENTS_CONSOLE__REFRESH_SECONDS": "1"}


def test_a_page_whose_server_stopped_says_the_connection_is_lost(
    page: Page, tmp_path: Path
) -> None:
    lost = page.get_by_role("alert")
    with payments_serve(tmp_path, env=QUICK) as server:
        sign_in(page, server)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        # Refreshing while the server answers: nothing to say.
        page.wait_for_timeout(2_500)
        expect(lost).to_be_hidden()
    expect(lost).to_be_visible(timeout=10_000)
    expect(lost).to_contain_text(re.compile(r"Connection lost.*Last update \d\d:\d\d:\d\d UTC"))


def test_every_page_fits_a_phone(page: Page, tmp_path: Path) -> None:
    """At 390 px only the wide tables scroll, each in its own frame; the page does not."""
    page.set_viewport_size({"width": 390, "height": 800})
    with payments_serve(tmp_path) as server:
        created = httpx.post(
            f"{server.base_url}/init-payment",
            json={"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 4200},
        ).json()
        sign_in(page, server)
        for path in (
            "/console/",
            "/console/payments",
            f"/console/payments/{created['id']}",
            "/console/jobs",
            "/console/webhooks",
            "/console/endpoints",
            "/console/audit",
            "/console/plugins",
        ):
            page.goto(server.base_url + path)
            expect(page.locator("main h1")).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
