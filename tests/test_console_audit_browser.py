"""The operators' audit in a real browser (chromium, driven by Playwright) against the real server
(``payments serve``, the demo profile): an operator cancels a payment from the console, finds
it in the audit with their sign-in, narrows the audit to themselves, and downloads it as CSV.

Which chromium, and what happens without one, is ``tests/browsers.py``'s to say.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from .server_process import ServerProcess, payments_serve
from .test_console_browser import go_to, sign_in

pytestmark = pytest.mark.browser

WAIT_MS = 15_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``payments serve`` in the demo profile: its vendors wait for the payer."""
    with payments_serve(tmp_path_factory.mktemp("audit")) as served:
        yield served


def test_an_operator_s_action_is_in_the_audit_and_in_its_csv(
    page: Page, demo: ServerProcess, tmp_path: Path
) -> None:
    refused: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", watch)
    page.on("dialog", lambda dialog: dialog.accept())  # each action asks to be confirmed
    with httpx.Client(base_url=demo.base_url, timeout=30) as api:
        started = api.post(
            "/init-payment",
            json={
                "id": str(uuid.uuid4()),
                "currency": "AED",
                "amount_fractions": 4200,
                "description": "Order A-2001",
                "return_url": f"{demo.base_url}/simulators/merchant/return",
            },
        )
    assert started.status_code == 201, started.text
    payment_id = started.json()["id"]

    sign_in(page, demo, f"/console/payments/{payment_id}")
    page.get_by_role("button", name="Cancel the payment").click()
    expect(page.locator("[data-status]")).to_have_text("cancelled", timeout=WAIT_MS)

    go_to(page, "Audit")
    expect(page.get_by_role("heading", name="Audit")).to_be_visible()
    newest = page.locator("table.audit tbody tr").first
    expect(newest).to_contain_text("cancel")
    expect(newest).to_contain_text("demo cancelled the payment")
    expect(newest.get_by_role("link", name=payment_id)).to_be_visible()
    expect(page.locator("table.audit")).to_contain_text("demo signed in to the console from")

    page.get_by_label("Operator").fill("demo")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/console/audit\?operator=demo"))
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Every action found, as CSV").click()
    download = downloading.value
    assert re.fullmatch(r"audit-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    cancelled = [row for row in rows if row["action"] == "cancel"]
    assert [(row["operator"], row["payment_id"], row["outcome"]) for row in cancelled] == [
        ("demo", payment_id, "accepted")
    ]
    assert any(row["action"] == "sign_in" for row in rows)
    assert {row["operator"] for row in rows} == {"demo"}
    assert refused == []
