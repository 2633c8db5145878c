"""A console page whose server went away says so, in a real browser (chromium, driven by
Playwright): the parts that refresh themselves fail, and the page shows "connection lost" with
the time of its last update, instead of its last numbers as if they were live.

Which chromium, and what happens without one, is ``tests/browsers.py``'s to say.
"""

from __future__ import annotations

import re
from pathlib import Path

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
