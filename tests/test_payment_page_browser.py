"""A payer on each built-in vendor's simulated payment page, in a real browser (chromium, driven
by Playwright) at a phone's width: the payment is started through the gateway with a return URL,
the payer opens its next action, presses Pay (and passes the SOAP vendor's 3-D Secure
challenge), and lands back at the merchant with the payment's id, the vendor having notified the
platform first. The page needs no script, and the browser refuses nothing under its policy.

The screenshots the docs show are taken here: set ``CONSOLE_SCREENSHOTS=docs/images`` to write
them there (otherwise they go to the test's temporary folder). Which chromium, and what happens
without one, is ``tests/browsers.py``'s to say.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from opentelemetry import trace
from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.simulator import JsonVendorSimulator
from payments_plugin_soap_gateway.gateway import SoapGateway
from payments_plugin_soap_gateway.plugin import simulator_settings
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugin_soap_gateway.simulator import THREE_D_SECURE_CODE, SoapVendorSimulator
from payments_plugins import (
    Amount,
    Gateway,
    GatewayResources,
    InitiateRequest,
    InitiateResult,
    RedirectAction,
    SimulatorOptions,
)
from payments_plugins.testing.asgi_server import serve_asgi
from playwright.sync_api import ConsoleMessage, Page, expect

pytestmark = pytest.mark.browser

SCREENSHOTS_VARIABLE = "CONSOLE_SCREENSHOTS"
PHONE = {"width": 390, "height": 760}
WEBHOOK_SECRET = "whsec_payment_page_0123"
DESCRIPTION = "Order A-1042: two concert tickets <b>& a programme</b>"
WAIT_MS = 15_000

_T = TypeVar("_T")


@dataclass
class Merchant:
    """The merchant's side: its return page, and the platform's webhook endpoint."""

    notifications: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            with self.lock:
                self.notifications.append(body)
            page, content_type = b"", b"text/plain"
        else:
            page, content_type = b"<h1>Back at the shop</h1>", b"text/html"
        headers = [(b"content-type", content_type)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": page})

    def received(self) -> list[bytes]:
        with self.lock:
            return list(self.notifications)


@dataclass(frozen=True)
class Shop:
    url: str
    merchant: Merchant


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    merchant = Merchant()
    with serve_asgi(merchant) as url:
        yield Shop(url, merchant)


@pytest.fixture(scope="session")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOTS_VARIABLE) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser_complaints(page: Page) -> list[str]:
    """Every error the page's console shows (a policy's refusal among them): none, it is
    hoped."""
    said: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            said.append(message.text)

    page.on("console", watch)
    return said


def in_a_thread(work: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``work`` on an event loop of its own: Playwright's sync API holds this thread's."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result(timeout=30)


def initiate(
    build: Callable[[GatewayResources], Gateway], amount: Amount, return_url: str
) -> tuple[InitiateRequest, InitiateResult]:
    request = InitiateRequest(
        payment_id=uuid.uuid4(), amount=amount, return_url=return_url, description=DESCRIPTION
    )

    async def work() -> InitiateResult:
        async with httpx.AsyncClient() as http:
            resources = GatewayResources(http=http, tracer=trace.get_tracer("tests"))
            return await build(resources).initiate(request)

    return request, in_a_thread(work)


def shot(page: Page, folder: Path, name: str) -> None:
    page.locator("body").screenshot(path=str(folder / f"{name}.png"))


def assert_back_at_the_shop(page: Page, request: InitiateRequest, order: str) -> None:
    expect(page.get_by_role("heading", name="Back at the shop")).to_be_visible(timeout=WAIT_MS)
    landed = urlsplit(page.url)
    assert landed.path == "/return"
    assert parse_qs(landed.query) == {"order": [order], "payment_id": [str(request.payment_id)]}


def assert_fits_a_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def test_a_payer_pays_on_the_json_vendor_s_page_and_lands_back_at_the_shop(
    page: Page, shop: Shop, screenshots: Path, browser_complaints: list[str]
) -> None:
    settings = JsonGatewaySettings(base_url="http://unused.invalid", webhook_secret=WEBHOOK_SECRET)
    options = SimulatorOptions(settings=settings, webhook_url=f"{shop.url}/hooks/json")
    with serve_asgi(JsonVendorSimulator(options)) as vendor:
        request, result = initiate(
            lambda resources: JsonGateway(
                JsonGatewaySettings(base_url=vendor, webhook_secret=WEBHOOK_SECRET), resources
            ),
            Amount(12500, "AED"),
            f"{shop.url}/return?order=A-1042",
        )
        assert isinstance(result.next_action, RedirectAction)

        page.goto(result.next_action.url)
        expect(page.get_by_text("125.00 AED", exact=True)).to_be_visible()
        # The merchant's markup is shown as text, not made into elements.
        expect(page.get_by_text(DESCRIPTION)).to_be_visible()
        assert page.locator("b").count() == 0
        assert_fits_a_phone(page)
        shot(page, screenshots, "simulated-payment-page-json")
        page.get_by_role("button", name="Pay 125.00 AED").click()

        assert_back_at_the_shop(page, request, "A-1042")
    [notification] = [
        body for body in shop.merchant.received() if result.external_id.encode() in body
    ]
    assert b'"status":"paid"' in notification
    assert browser_complaints == []


def test_a_payer_passes_the_soap_vendor_s_3_d_secure_challenge_and_lands_back_at_the_shop(
    page: Page, shop: Shop, screenshots: Path, browser_complaints: list[str]
) -> None:
    settings = SoapGatewaySettings(**simulator_settings("http://unused.invalid"))
    options = SimulatorOptions(settings=settings, webhook_url=f"{shop.url}/hooks/soap")
    with serve_asgi(SoapVendorSimulator(options)) as vendor:
        request, result = initiate(
            lambda resources: SoapGateway(
                SoapGatewaySettings(**simulator_settings(vendor)), resources
            ),
            Amount(4999, "USD"),
            f"{shop.url}/return?order=A-1043",
        )
        assert isinstance(result.next_action, RedirectAction)

        page.goto(result.next_action.url)
        expect(page.get_by_text("49.99 USD", exact=True)).to_be_visible()
        assert_fits_a_phone(page)
        shot(page, screenshots, "simulated-payment-page-soap")
        page.get_by_role("button", name="Pay 49.99 USD").click()

        expect(page.get_by_role("heading", name="3-D Secure")).to_be_visible()
        page.get_by_label("Code").fill("000000")
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("alert")).to_have_text(re.compile("That code is not right"))
        # A wrong code is asked again: nothing is notified yet.
        assert not [
            body for body in shop.merchant.received() if result.external_id.encode() in body
        ]
        page.get_by_label("Code").fill(THREE_D_SECURE_CODE)
        assert_fits_a_phone(page)
        shot(page, screenshots, "simulated-payment-page-soap-3ds")
        page.get_by_role("button", name="Confirm").click()

        assert_back_at_the_shop(page, request, "A-1043")
    [notification] = [
        body for body in shop.merchant.received() if result.external_id.encode() in body
    ]
    assert re.search(rb"<[^>]*status>paid<", notification)
    assert browser_complaints == []
