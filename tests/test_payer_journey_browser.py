"""The payer's journey through the real server (``payments serve``, the demo profile) in a real
browser (chromium, driven by Playwright): the client starts a payment with a return URL, the
payer opens its next action, pays on the vendor's page (and passes the SOAP vendor's 3-D Secure
challenge), and lands on the shop's page, which shows the merchant notified; an operator
cancels, from the console, a payment whose payer never paid; and a payment taken with manual
capture, which its payer authorizes on the vendor's page, is captured in two parts and refunded
in part by an operator from the console.

Which chromium, and what happens without one, is ``tests/browsers.py``'s to say.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from payments_plugin_soap_gateway.simulator import THREE_D_SECURE_CODE
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect

from .server_process import ServerProcess, payments_serve
from .test_console_browser import sign_in

pytestmark = pytest.mark.browser

WAIT_MS = 15_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``payments serve`` in the demo profile: its vendors wait for the payer."""
    with payments_serve(tmp_path_factory.mktemp("journey")) as served:
        yield served


@pytest.fixture
def api(demo: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def browser_complaints(page: Page) -> list[str]:
    said: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            said.append(message.text)

    page.on("console", watch)
    return said


def start(
    api: httpx.Client, demo: ServerProcess, currency: str, minor: int, **asked: Any
) -> dict[str, Any]:
    answer = api.post(
        "/init-payment",
        json={
            "id": str(uuid.uuid4()),
            "currency": currency,
            "amount_fractions": minor,
            "description": "Order A-1042: two tickets",
            "return_url": f"{demo.base_url}/simulators/merchant/return",
            **asked,
        },
    )
    assert answer.status_code == 201, answer.text
    payment: dict[str, Any] = answer.json()
    assert payment["next_action"]["type"] == "redirect"
    return payment


def assert_back_at_the_shop(page: Page, api: httpx.Client, payment: dict[str, Any]) -> None:
    expect(page.get_by_role("heading", name="Back at the shop")).to_be_visible(timeout=WAIT_MS)
    landed = urlsplit(page.url)
    assert landed.path == "/simulators/merchant/return"
    assert parse_qs(landed.query) == {"payment_id": [payment["id"]]}
    # The shop's page looks again until the merchant is told the outcome.
    expect(page.get_by_text("payment.paid: paid (verified)")).to_be_visible(timeout=WAIT_MS)
    after = api.get(f"/payments/{payment['id']}").json()["payment"]
    assert (after["status"], after["next_action"]) == ("paid", None)


@pytest.mark.parametrize(("currency", "minor"), [("AED", 12500), ("USD", 4999)])
def test_a_payer_pays_through_the_platform_on_the_vendor_s_page_and_lands_back_at_the_shop(
    page: Page,
    demo: ServerProcess,
    api: httpx.Client,
    browser_complaints: list[str],
    currency: str,
    minor: int,
) -> None:
    payment = start(api, demo, currency, minor)
    page.goto(payment["next_action"]["url"])
    expect(page.get_by_text(payment["amount"], exact=True)).to_be_visible()
    expect(page.get_by_text("Order A-1042: two tickets")).to_be_visible()
    page.get_by_role("button", name=f"Pay {payment['amount']}").click()
    if payment["gateway"] == "soap":
        expect(page.get_by_role("heading", name="3-D Secure")).to_be_visible()
        page.get_by_label("Code").fill(THREE_D_SECURE_CODE)
        page.get_by_role("button", name="Confirm").click()
    assert_back_at_the_shop(page, api, payment)
    assert browser_complaints == []


def test_an_operator_cancels_from_the_console_a_payment_its_payer_never_paid(
    page: Page, demo: ServerProcess, api: httpx.Client
) -> None:
    payment = start(api, demo, "AED", 3000)
    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    sign_in(page, demo, f"/console/payments/{payment['id']}")
    shown = page.locator("[data-next-action]")
    expect(shown).to_contain_text(payment["next_action"]["url"])
    page.get_by_role("button", name="Cancel the payment").click()
    expect(page.locator("[data-status]")).to_have_text("cancelled", timeout=WAIT_MS)
    expect(page.locator("main")).to_contain_text(re.compile("demo cancelled the payment"))
    assert asked == [f"Cancel payment {payment['id']}?"]

    after = api.get(f"/payments/{payment['id']}").json()["payment"]
    assert (after["status"], after["next_action"]) == ("cancelled", None)
    # The vendor cancelled it too: its page no longer takes the payer's money.
    page.goto(payment["next_action"]["url"])
    expect(page.get_by_role("button", name=re.compile("^Pay "))).to_have_count(0)


@pytest.mark.parametrize("currency", ["AED", "USD"])
def test_a_payer_authorizes_on_the_vendor_s_page_and_an_operator_captures_and_refunds_it(
    page: Page, demo: ServerProcess, api: httpx.Client, browser_complaints: list[str], currency: str
) -> None:
    payment = start(api, demo, currency, 10000, capture="manual")
    page.goto(payment["next_action"]["url"])
    page.get_by_role("button", name=f"Authorize {payment['amount']}").click()
    if payment["gateway"] == "soap":
        page.get_by_label("Code").fill(THREE_D_SECURE_CODE)
        page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Back at the shop")).to_be_visible(timeout=WAIT_MS)

    questions: list[str] = []

    def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    sign_in(page, demo, f"/console/payments/{payment['id']}")
    status = page.locator("[data-status]")
    expect(status).to_have_text("authorized", timeout=WAIT_MS)
    capture = page.locator("form[data-capture]")
    capture.get_by_label(f"Amount ({currency})").fill("30.00")
    capture.get_by_role("button", name="Capture").click()
    expect(status).to_have_text("partially_captured", timeout=WAIT_MS)
    expect(page.locator("[data-captured]")).to_contain_text(f"30.00 {currency}")

    # The rest, as the last capture: the amount left empty means all that is left.
    page.locator("form[data-capture]").get_by_role("button", name="Capture").click()
    expect(status).to_have_text("paid", timeout=WAIT_MS)
    refund = page.locator("form[data-refund]")
    refund.get_by_label(f"Amount ({currency})").fill("12.5")
    refund.get_by_role("button", name="Refund").click()
    expect(status).to_have_text("partially_refunded", timeout=WAIT_MS)
    expect(page.locator("main")).to_contain_text("demo asked for refund")

    assert questions[0].startswith(f"Capture 30.00 of payment {payment['id']}")
    assert questions[1].startswith(f"Capture 70.00 {currency} of payment")
    assert questions[2].startswith("Refund 12.5 of payment")
    after = api.get(f"/payments/{payment['id']}").json()
    assert after["payment"]["captured_fractions"] == 10000
    assert after["payment"]["refunded_fractions"] == 1250
    assert [c["amount_fractions"] for c in after["captures"]] == [3000, 7000]
    assert browser_complaints == []
