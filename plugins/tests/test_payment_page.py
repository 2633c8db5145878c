"""The hosted payment page every simulator built on VendorSimulator serves, and cancel in its
books, shown on a toy vendor served over real HTTP.

The toy vendor takes ``{"amount", "reference", "return_url"?, "description"?}`` at ``POST
/payments``, answers ``{"id", "page"}``, and cancels at ``POST /payments/{id}/cancel``. The
``StepToy`` adds a step after Pay: a code to type, asked again once, then failing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from payments_plugins import SimulatorOptions
from payments_plugins.simulation import (
    Answer,
    Notification,
    NotifiedStatus,
    PayerStep,
    Request,
    Route,
    SimulatedPayment,
    SimulatorTiming,
    StepField,
    StepOutcome,
    StepVerdict,
    VendorSimulator,
    decoded,
    json_answer,
    return_url_problem,
)
from payments_plugins.testing.asgi_server import serve_asgi
from payments_plugins.testing.payer import PageNotWalkable, page_form, walk_payment_page

RETURN_URL = "https://shop.example/orders/A-1/back?lang=en&flag"
CODE = "424242"


class ToySettings(msgspec.Struct, frozen=True):
    """The toy vendor needs no settings."""


class NewPayment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: str
    reference: str
    return_url: str | None = None
    description: str | None = None


_NEW_PAYMENT = msgspec.json.Decoder(NewPayment)


class PageToy(VendorSimulator):
    """A vendor whose payer pays on its page."""

    currencies = frozenset({"AED"})
    id_prefix = "pagetoy"
    vendor_name = "Toy Pay"

    def __init__(self, options: SimulatorOptions[Any], **timing: Unpack[SimulatorTiming]) -> None:
        routes = (
            Route("POST", "payments", self._create),
            Route("GET", "payments/{external_id}", self._status),
            Route("POST", "payments/{external_id}/cancel", self._cancel),
        )
        super().__init__(options, routes, **timing)

    def error_answer(self, status: int, code: str, message: str) -> Answer:
        return json_answer(status, {"toy_error": code})

    def notification(self, external_id: str, status: NotifiedStatus) -> Notification:
        body = json.dumps({"id": external_id, "status": status}).encode()
        return Notification(headers={"Content-Type": "application/json"}, body=body)

    async def _create(self, request: Request) -> Answer:
        self.take_call("initiate")
        body = decoded(_NEW_PAYMENT, request.body)
        payment, created = self.take_payment(
            body.reference,
            self.accepted_amount(body.amount),
            return_url=body.return_url,
            description=body.description,
        )
        answer = {"id": payment.id, "page": self.page_url(request, payment)}
        return json_answer(201 if created else 200, answer)

    async def _status(self, request: Request) -> Answer:
        self.take_call("status")
        return json_answer(200, self.payment(request.path_params["external_id"]).to_json())

    async def _cancel(self, request: Request) -> Answer:
        self.take_call("cancel")
        payment = self.cancel_payment(request.path_params["external_id"])
        return json_answer(200, payment.to_json())


CODE_STEP = PayerStep(
    name="code",
    title="Confirm with your bank",
    instructions=f"Type the code your bank sent you: {CODE}.",
    fields=(StepField(name="code", label="Code", simulated_value=CODE, inputmode="numeric"),),
)


class StepToy(PageToy):
    """A vendor whose payer types a code after Pay: a wrong one is asked again once."""

    def __init__(self, options: SimulatorOptions[Any], **timing: Unpack[SimulatorTiming]) -> None:
        super().__init__(options, **timing)
        self.wrong: dict[str, int] = {}

    def payer_steps(self, payment: SimulatedPayment) -> Sequence[PayerStep]:
        return (CODE_STEP,)

    def judge_step(
        self, payment: SimulatedPayment, step: PayerStep, answers: Mapping[str, str]
    ) -> StepVerdict:
        if answers.get("code") == CODE:
            return StepVerdict(StepOutcome.PASSED)
        self.wrong[payment.id] = self.wrong.get(payment.id, 0) + 1
        if self.wrong[payment.id] >= 2:
            return StepVerdict(StepOutcome.FAILED, "Two wrong codes: your bank refused.")
        return StepVerdict(StepOutcome.ASK_AGAIN, "That code is not right.")


@dataclass
class Inbox:
    """The platform's webhook endpoint, keeping what the vendor posted."""

    received: list[dict[str, Any]] = field(default_factory=list)
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
        with self.lock:
            self.received.append(json.loads(body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@dataclass
class Served:
    url: str
    simulator: PageToy
    inbox: Inbox


def served(kind: type[PageToy] = PageToy, **options: Any) -> Iterator[Served]:
    inbox = Inbox()
    with serve_asgi(inbox) as inbox_url:
        simulator = kind(
            SimulatorOptions(settings=ToySettings(), webhook_url=inbox_url, **options),
            timeout_seconds=0.05,
        )
        with serve_asgi(simulator) as url:
            yield Served(url, simulator, inbox)


@pytest.fixture(scope="module")
def toy() -> Iterator[Served]:
    yield from served()


@pytest.fixture(scope="module")
def step_toy() -> Iterator[Served]:
    yield from served(StepToy)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


reference_counter = iter(range(1, 1_000_000))


async def create(
    client: httpx.AsyncClient, url: str, amount: str = "12.50 AED", **body: Any
) -> dict[str, str]:
    reference = body.pop("reference", f"ref-{next(reference_counter)}")
    answer = await client.post(
        f"{url}/payments", json={"amount": amount, "reference": reference, **body}
    )
    assert answer.status_code in (200, 201), answer.text
    created: dict[str, str] = answer.json() | {"reference": reference}
    return created


def notified(served: Served, external_id: str) -> list[str]:
    with served.inbox.lock:
        return [item["status"] for item in served.inbox.received if item["id"] == external_id]


async def press(
    client: httpx.AsyncClient, page: str, action: str, step: str = "checkout", **fields: str
) -> httpx.Response:
    return await client.post(
        page, data={"step": step, "action": action, **fields}, follow_redirects=False
    )


# The books: what the vendor's API received.


async def test_a_payment_keeps_its_return_url_and_description_as_the_api_received_them(
    toy: Served, client: httpx.AsyncClient
):
    created = await create(client, toy.url, return_url=RETURN_URL, description="Two tickets")
    again = await create(
        client, toy.url, reference=created["reference"], return_url="https://other.example/"
    )

    assert again["id"] == created["id"]
    listed = (await client.get(f"{toy.url}/_simulator/payments")).json()["payments"]
    [held] = [payment for payment in listed if payment["id"] == created["id"]]
    assert held["return_url"] == RETURN_URL
    assert held["description"] == "Two tickets"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "/orders/A-1",
        "ftp://shop.example/",
        "https://user:secret@shop.example/",
        "https://shop.example/a b",
        "https://shop.example/ä",
        "https://shop;evil.example/",
        "https://shop.example:99999/",
        "https://shop.example/" + "a" * 2048,
    ],
)
async def test_a_return_url_a_browser_could_not_be_sent_to_safely_is_refused(
    toy: Served, client: httpx.AsyncClient, url: str
):
    assert return_url_problem(url) is not None
    answer = await client.post(
        f"{toy.url}/payments", json={"amount": "1.00 AED", "reference": "r", "return_url": url}
    )

    assert (answer.status_code, answer.json()) == (400, {"toy_error": "invalid_return_url"})


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/back", "https://[::1]/x?y=1#top", "https://shop.example"]
)
def test_plain_http_and_https_return_urls_are_taken(url: str):
    assert return_url_problem(url) is None


async def test_a_description_longer_than_the_vendor_takes_is_refused(
    toy: Served, client: httpx.AsyncClient
):
    answer = await client.post(
        f"{toy.url}/payments",
        json={"amount": "1.00 AED", "reference": "long", "description": "x" * 1001},
    )

    assert (answer.status_code, answer.json()) == (400, {"toy_error": "invalid_description"})


# The page.


async def test_the_page_shows_the_amount_and_the_description_escaped_under_a_strict_policy(
    toy: Served, client: httpx.AsyncClient
):
    hostile = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    created = await create(client, toy.url, description=hostile)

    page = await client.get(created["page"])

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "12.50 AED" in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in page.text
    assert "<script" not in page.text
    assert "<img" not in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert re.search(r"style-src 'sha256-[A-Za-z0-9+/=]+'", policy)
    assert "script-src" not in policy  # default-src 'none' forbids every script
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    form = page_form(created["page"], page.text)
    assert form is not None
    assert form.posts_to == created["page"]
    assert form.actions == {"pay", "decline"}
    assert "Toy Pay" in page.text


async def test_the_style_the_policy_allows_is_the_one_the_page_has(
    toy: Served, client: httpx.AsyncClient
):
    page = await client.get((await create(client, toy.url))["page"])

    style = re.search(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in page.headers["content-security-policy"]


async def test_pay_notifies_the_platform_then_sends_the_payer_to_the_return_url(
    toy: Served, client: httpx.AsyncClient
):
    created = await create(client, toy.url, return_url=RETURN_URL + "&payment_id=forged#top")

    answer = await press(client, created["page"], "pay")

    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert (location.scheme, location.netloc, location.path, location.fragment) == (
        "https",
        "shop.example",
        "/orders/A-1/back",
        "top",
    )
    # The return URL's own query is kept as it was; our reference replaces a payment_id.
    assert location.query == f"lang=en&flag&payment_id={created['reference']}"
    # Notified before the payer is sent on: the platform knows when the payer lands.
    assert notified(toy, created["id"]) == ["paid"]
    status = (await client.get(f"{toy.url}/payments/{created['id']}")).json()["status"]
    assert status == "paid"


async def test_the_return_url_s_origin_is_the_only_other_place_the_form_may_lead(
    toy: Served, client: httpx.AsyncClient
):
    created = await create(client, toy.url, return_url="http://127.0.0.1:8080/back")

    page = await client.get(created["page"])

    assert "form-action 'self' http://127.0.0.1:8080;" in page.headers["content-security-policy"]


async def test_a_second_pay_sends_the_payer_on_again_and_notifies_nothing_more(
    toy: Served, client: httpx.AsyncClient
):
    created = await create(client, toy.url, return_url=RETURN_URL)
    first = await press(client, created["page"], "pay")

    again = await press(client, created["page"], "pay")

    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert notified(toy, created["id"]) == ["paid"]


async def test_decline_fails_the_payment_and_sends_the_payer_back(
    toy: Served, client: httpx.AsyncClient
):
    created = await create(client, toy.url, return_url=RETURN_URL)

    answer = await press(client, created["page"], "decline")

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("https://shop.example/orders/A-1/back?")
    assert notified(toy, created["id"]) == ["failed"]
    page = await client.get(created["page"])
    assert "Payment failed" in page.text
    assert page_form(created["page"], page.text) is None


async def test_without_a_return_url_the_page_ends_on_its_own_done_page(
    toy: Served, client: httpx.AsyncClient
):
    created = await create(client, toy.url)

    journey = await walk_payment_page(client, created["page"])

    assert journey.end == created["page"]
    done = await client.get(journey.end)
    assert "Payment complete" in done.text
    assert "Back to the merchant" not in done.text
    assert page_form(created["page"], done.text) is None
    assert notified(toy, created["id"]) == ["paid"]


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        ("paid", "Payment complete"),
        ("failed", "Payment failed"),
        ("expired", "Payment expired"),
        ("cancelled", "Payment cancelled"),
    ],
)
async def test_a_payment_that_is_over_shows_so_and_refuses_pay(
    toy: Served, client: httpx.AsyncClient, status: str, shown: str
):
    created = await create(client, toy.url, return_url=RETURN_URL)
    if status == "cancelled":
        await client.post(f"{toy.url}/payments/{created['id']}/cancel")
    else:
        moved = await client.post(
            f"{toy.url}/_simulator/payments/{created['id']}/status", json={"status": status}
        )
        assert moved.status_code == 200
    before = notified(toy, created["id"])

    page = await client.get(created["page"])
    pressed = await press(client, created["page"], "pay")

    assert shown in page.text
    assert page_form(created["page"], page.text) is None
    assert "Back to the merchant" in page.text
    if status == "paid":
        assert pressed.status_code == 303  # the payer paid already: sent on, nothing more
    else:
        assert pressed.status_code == 409
        assert "it can no longer be paid" in pressed.text
        assert page_form(created["page"], pressed.text) is None
    assert notified(toy, created["id"]) == before


async def test_a_page_of_a_payment_the_vendor_does_not_have_is_a_404_page(
    toy: Served, client: httpx.AsyncClient
):
    page = await client.get(f"{toy.url}/pay/pagetoy_nothing")

    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "No such payment" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/json", b'{"action": "pay"}', 415),
        ("application/x-www-form-urlencoded", b"action=steal", 400),
        ("application/x-www-form-urlencoded", b"", 400),
    ],
)
async def test_anything_but_a_pay_or_decline_form_is_refused(
    toy: Served, client: httpx.AsyncClient, content_type: str, body: bytes, status: int
):
    created = await create(client, toy.url)

    answer = await client.post(
        created["page"], content=body, headers={"Content-Type": content_type}
    )

    assert answer.status_code == status
    assert notified(toy, created["id"]) == []


async def test_a_mounted_simulator_s_page_and_its_answers_carry_the_mount_path():
    simulator = PageToy(SimulatorOptions(settings=ToySettings()))
    transport = httpx.ASGITransport(app=simulator, root_path="/simulators/toy")
    platform = "https://platform.example"
    async with httpx.AsyncClient(transport=transport, base_url=platform) as client:
        created = await create(client, f"{platform}/simulators/toy")
        pressed = await press(client, created["page"], "pay")
    await simulator.aclose()

    assert created["page"] == f"https://platform.example/simulators/toy/pay/{created['id']}"
    assert pressed.headers["location"] == f"/simulators/toy/pay/{created['id']}"


async def test_a_host_header_that_names_no_host_is_not_written_into_the_page_url():
    simulator = PageToy(SimulatorOptions(settings=ToySettings()))
    transport = httpx.ASGITransport(app=simulator)
    async with httpx.AsyncClient(transport=transport, base_url="http://vendor") as client:
        answer = await client.post(
            "http://vendor/payments",
            json={"amount": "1.00 AED", "reference": "host"},
            headers={"Host": 'evil.example/"><script>'},
        )
    await simulator.aclose()

    # The server's own name instead (httpx's in-process transport calls it "vendor").
    assert answer.json()["page"].startswith("http://vendor/pay/pagetoy_")


# The vendor's own steps.


async def test_a_step_after_pay_is_shown_and_passed_with_the_right_answer(
    step_toy: Served, client: httpx.AsyncClient
):
    created = await create(client, step_toy.url, return_url=RETURN_URL)

    pressed = await press(client, created["page"], "pay")
    step = await client.get(created["page"])

    assert pressed.status_code == 303
    assert notified(step_toy, created["id"]) == []
    assert "Confirm with your bank" in step.text
    form = page_form(created["page"], step.text)
    assert form is not None
    assert form.fields == {"step": "code", "code": CODE}
    journey = await walk_payment_page(client, created["page"])
    assert journey.end.endswith(f"payment_id={created['reference']}")
    assert notified(step_toy, created["id"]) == ["paid"]


async def test_a_wrong_answer_is_asked_again_and_a_second_fails_the_payment(
    step_toy: Served, client: httpx.AsyncClient
):
    created = await create(client, step_toy.url, return_url=RETURN_URL)
    await press(client, created["page"], "pay")

    wrong = await press(client, created["page"], "pay", step="code", code="000000")
    again = await client.get(created["page"])
    shown_once = await client.get(created["page"])
    failed = await press(client, created["page"], "pay", step="code", code="111111")

    assert wrong.status_code == 303
    assert "That code is not right." in again.text
    assert "That code is not right." not in shown_once.text
    assert failed.status_code == 303
    assert failed.headers["location"].startswith("https://shop.example/")
    assert notified(step_toy, created["id"]) == ["failed"]


async def test_a_pay_pressed_on_a_page_the_payer_left_changes_nothing(
    step_toy: Served, client: httpx.AsyncClient
):
    created = await create(client, step_toy.url, return_url=RETURN_URL)
    await press(client, created["page"], "pay")

    stale = await press(client, created["page"], "pay")  # the checkout page, once more

    assert stale.status_code == 303
    assert urlsplit(stale.headers["location"]).path == urlsplit(created["page"]).path
    assert "Confirm with your bank" in (await client.get(created["page"])).text
    assert notified(step_toy, created["id"]) == []


async def test_decline_on_a_step_fails_the_payment(step_toy: Served, client: httpx.AsyncClient):
    created = await create(client, step_toy.url, return_url=RETURN_URL)
    await press(client, created["page"], "pay")

    journey = await walk_payment_page(client, created["page"], press="decline")

    assert parse_qs(urlsplit(journey.end).query)["payment_id"] == [created["reference"]]
    assert notified(step_toy, created["id"]) == ["failed"]


# Cancel in the books.


async def test_cancel_cancels_a_waiting_payment_once_and_answers_the_same_again(
    toy: Served, client: httpx.AsyncClient
):
    created = await create(client, toy.url)
    cancel = f"{toy.url}/payments/{created['id']}/cancel"

    first = await client.post(cancel)
    again = await client.post(cancel)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["status"] == "cancelled"
    status = (await client.get(f"{toy.url}/payments/{created['id']}")).json()["status"]
    assert status == "cancelled"
    assert "Payment cancelled" in (await client.get(created["page"])).text
    assert notified(toy, created["id"]) == []


@pytest.mark.parametrize("status", ["paid", "failed", "expired"])
async def test_cancel_of_a_payment_that_is_over_is_refused_saying_why(
    toy: Served, client: httpx.AsyncClient, status: str
):
    created = await create(client, toy.url)
    await client.post(
        f"{toy.url}/_simulator/payments/{created['id']}/status", json={"status": status}
    )

    refused = await client.post(f"{toy.url}/payments/{created['id']}/cancel")

    assert refused.status_code == 409
    assert refused.json() == {"toy_error": f"payment_already_{status}"}
    held = (await client.get(f"{toy.url}/payments/{created['id']}")).json()
    assert held["status"] == status


async def test_a_cancel_while_the_vendor_is_down_is_refused_and_counted(
    toy: Served, client: httpx.AsyncClient
):
    created = await create(client, toy.url)
    before = (await client.get(f"{toy.url}/_simulator/calls")).json()["cancel"]
    await client.post(f"{toy.url}/_simulator/down")
    try:
        refused = await client.post(f"{toy.url}/payments/{created['id']}/cancel")
    finally:
        await client.post(f"{toy.url}/_simulator/up")

    assert refused.status_code == 503
    assert (await client.get(f"{toy.url}/_simulator/calls")).json()["cancel"] == before + 1
    assert (await client.get(f"{toy.url}/payments/{created['id']}")).json()["status"] == (
        "initiated"
    )


async def test_walking_a_page_that_is_not_a_payment_page_says_where_it_broke(
    toy: Served, client: httpx.AsyncClient
):
    with pytest.raises(PageNotWalkable, match="answered HTTP 404"):
        await walk_payment_page(client, f"{toy.url}/pay/pagetoy_none")
    with pytest.raises(PageNotWalkable, match="not text/html"):
        await walk_payment_page(client, f"{toy.url}/_simulator/calls")


async def test_a_page_entered_by_a_form_post_is_walked_from_that_post() -> None:
    """A redirect next action with method POST: the walk posts its fields first, as the
    payer's browser would, then follows the vendor to its page."""
    seen: list[tuple[str, str, bytes]] = []
    page = (
        '<html><body><form method="post" action="/pay">'
        '<button name="action" value="pay">Pay</button></form></body></html>'
    )

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.content))
        if (request.method, request.url.path) == ("POST", "/start"):
            return httpx.Response(303, headers={"Location": "/page"})
        if (request.method, request.url.path) == ("GET", "/page"):
            return httpx.Response(200, text=page, headers={"Content-Type": "text/html"})
        return httpx.Response(303, headers={"Location": "https://shop.example/back?payment_id=1"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor)) as browser:
        journey = await walk_payment_page(
            browser, "https://vendor.example/start", posted={"token": "t-1"}
        )

    assert seen[0] == ("POST", "/start", b"token=t-1")
    assert [(method, path) for method, path, _ in seen[1:]] == [("GET", "/page"), ("POST", "/pay")]
    assert journey.end == "https://shop.example/back?payment_id=1"
