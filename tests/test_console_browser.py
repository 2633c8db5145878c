"""The console in a real browser (chromium, driven by Playwright) against the real server in
the demo profile: an operator signs in, finds a payment by its metadata, watches an
outage move the traffic, mends a dead job, and signs out; requests without a session or a CSRF
token are refused.

The screenshots the README shows are taken here: set ``CONSOLE_SCREENSHOTS=docs/images`` to
write them there (otherwise they go to the test's temporary folder).

Which chromium, and what happens without one, is ``tests/browsers.py``'s to say.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from .server_process import ServerProcess, payments_serve

pytestmark = pytest.mark.browser

SCREENSHOTS_VARIABLE = "CONSOLE_SCREENSHOTS"
# The demo, made quick to watch: pages refresh every second, a job dies after two tries; and
# each vendor's payer pays at once, so that a payment goes on without a browser at the vendor.
DEMO_OVERRIDES = {
    "PAYMENTS_GATEWAYS__JSON__SIMULATOR__PAYER_PAYS_AT_ONCE": "true",
    "PAYMENTS_GATEWAYS__SOAP__SIMULATOR__PAYER_PAYS_AT_ONCE": "true",
    "PAYMENTS_CONSOLE__REFRESH_SECONDS": "1",
    "PAYMENTS_WORKER__POLL_SECONDS": "0.1",
    "PAYMENTS_WORKER__MAX_ATTEMPTS": "2",
    "PAYMENTS_WORKER__BACKOFF_SECONDS": "0.2",
}
WAIT_MS = 15_000


@pytest.fixture(scope="session")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1440, "height": 900}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``payments serve`` in the demo profile, in a folder of its own."""
    with payments_serve(tmp_path_factory.mktemp("demo"), env=DEMO_OVERRIDES) as served:
        yield served


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    """The client API and the simulators' controls, as a client and a vendor would use them."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOTS_VARIABLE) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def policy_violations(page: Page) -> list[str]:
    """What the browser refused under the content security policy (nothing, it is hoped)."""
    refused: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", watch)
    return refused


def sign_in(page: Page, server: ServerProcess, path: str = "/console/") -> None:
    page.goto(server.base_url + path)
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    page.get_by_label("Operator").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()


def reload_until(page: Page, shown: Locator, text: str) -> None:
    """Reload a page that does not refresh itself until ``shown`` says ``text``."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        try:
            expect(shown).to_have_text(text, timeout=500)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.reload()
        else:
            return


def go_to(page: Page, section: str) -> None:
    page.get_by_role("navigation", name="Sections").get_by_role("link", name=section).click()


def start_payment(
    api: httpx.Client, currency: str, minor: int, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "currency": currency,
        "amount_fractions": minor,
    }
    if metadata is not None:
        body["metadata"] = metadata
    answer = api.post("/init-payment", json=body)
    assert answer.status_code in (201, 202), answer.text
    payment: dict[str, Any] = answer.json()
    return payment


def vendor(api: httpx.Client, gateway: str, control: str, body: Any = None) -> None:
    answer = api.post(f"/simulators/{gateway}/_simulator/{control}", json=body)
    assert answer.status_code == 200, answer.text


def expect_attention(page: Page, key: str, text: str) -> None:
    """The attention bar shows ``text`` within 10 seconds, and the tab's title counts it."""
    expect(page.locator(f'[data-attention="{key}"]')).to_contain_text(text, timeout=10_000)
    expect(page).to_have_title(re.compile(r"^\(\d+\) "))


def test_an_operator_watches_an_outage_and_mends_what_it_left_behind(
    page: Page,
    server: ServerProcess,
    api: httpx.Client,
    screenshots: Path,
    policy_violations: list[str],
) -> None:
    # Signed in, payments started, one found by its metadata and its timeline opened.
    sign_in(page, server)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    for order in ("ORD-4199", "ORD-4200", "ORD-4201"):
        start_payment(api, "AED", 4200, metadata={"order": order})
    go_to(page, "Payments")
    page.get_by_label("Metadata key").fill("order")
    page.get_by_label("Metadata value").fill("ORD-4200")
    page.get_by_role("button", name="Search").click()
    found = page.locator("tr[data-payment]")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("ORD-4200")
    found.get_by_role("link").click()
    expect(page.locator("[data-status]")).to_have_text("initiated")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("routing decision for AED")
    expect(timeline).to_contain_text("at json: accepted")

    # The JSON vendor goes down: payments fail over to SOAP until json's breaker opens, and
    # the overview, refreshing itself, shows it.
    go_to(page, "Overview")
    json_row = page.locator('tr[data-gateway="json"]')
    expect(json_row.locator("[data-breaker]")).to_have_text("closed")
    vendor(api, "json", "down")
    for _ in range(12):
        assert start_payment(api, "AED", 1500)["gateway"] == "soap"
    expect(json_row.locator("[data-breaker]")).to_have_text("open", timeout=WAIT_MS)
    expect(page.locator('[data-gateway-chart="json"]')).to_contain_text("failing since")
    # The attention bar, on every page, says so, and so does the tab's title.
    expect_attention(page, "breaker-json", "json's breaker is open")
    # SOAP took the twelve payments of the outage, JSON only the three before it.
    share = 'tr[data-gateway="{}"] [data-share]'
    expect(page.locator(share.format("soap"))).to_have_text("80%", timeout=WAIT_MS)
    expect(page.locator(share.format("json"))).to_have_text("20%")
    page.screenshot(path=screenshots / "console-overview-outage.png", full_page=True)
    vendor(api, "json", "up")

    # A payment whose answer was lost, and whose gateway then cannot be asked: its reconcile
    # job dies. Once SOAP is back, the operator retries it from the jobs page.
    vendor(
        api,
        "soap",
        "behaviours",
        {"amount": "77.77 USD", "operation": "initiate", "action": "error_500"},
    )
    lost = start_payment(api, "USD", 7777)
    vendor(api, "soap", "down")
    assert lost["status"] == "unknown"
    go_to(page, "Jobs")
    page.get_by_role("link", name="dead", exact=True).click()
    dead = page.locator(f'tr[data-status="dead"]:has(a[href$="{lost["id"]}"])')
    expect(dead).to_contain_text("reconcile", timeout=WAIT_MS)
    expect(dead).to_contain_text("soap status lookup failed")
    vendor(api, "soap", "up")
    dead.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text("will run again")
    page.goto(f"{server.base_url}/console/payments/{lost['id']}")
    reload_until(page, page.locator("[data-status]"), "paid")
    expect(timeline).to_contain_text("operator demo: retry_job")
    expect(timeline).to_contain_text("reconciled: soap reports paid")
    page.screenshot(path=screenshots / "console-payment-timeline.png", full_page=True)

    # Signed out, the console is closed again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(server.base_url + "/console/jobs")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next=/console/jobs"))
    assert policy_violations == []


def test_requests_without_a_session_or_without_the_csrf_token_are_refused(
    page: Page, server: ServerProcess
) -> None:
    without_session = page.request.post(
        f"{server.base_url}/console/jobs/1/retry", form={"csrf_token": "guessed"}
    )
    assert without_session.status == 401

    sign_in(page, server, "/console/jobs")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    # The browser sends the session's cookie, but the request lacks the form's token.
    without_token = page.request.post(f"{server.base_url}/console/jobs/1/retry", form={})
    assert without_token.status == 403
    forged = page.request.post(
        f"{server.base_url}/console/sign-out", form={"csrf_token": "not-the-token"}
    )
    assert forged.status == 403
    page.reload()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()  # still signed in
