"""Authorize now, capture later in the books of every simulator built on VendorSimulator
(since 2.1), shown on a toy vendor served over real HTTP.

The toy vendor takes ``{"amount", "reference", "capture"?}`` at ``POST /payments`` and answers
``{"id", "page"}``; it captures at ``POST /payments/{id}/captures`` (``{"amount",
"reference", "final"}``), finds a capture at ``GET /captures/{reference}`` and voids at ``POST
/payments/{id}/void``. ``SingleCaptureToy`` takes one capture of all of an authorization.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Unpack

import httpx
import msgspec
import pytest
from payments_plugins import SimulatorOptions
from payments_plugins.simulation import (
    AUTHORIZATION_LIFETIME_SECONDS,
    Answer,
    Notification,
    NotifiedStatus,
    Request,
    Route,
    SimulatorTiming,
    VendorSimulator,
    decoded,
    json_answer,
)
from payments_plugins.testing.asgi_server import serve_asgi
from payments_plugins.testing.payer import walk_payment_page

RETURN_URL = "https://shop.example/back"


class ToySettings(msgspec.Struct, frozen=True):
    """The toy vendor needs no settings."""


class NewPayment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: str
    reference: str
    capture: Literal["automatic", "manual"] = "automatic"


class NewCapture(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: str
    reference: str
    final: bool = False


class NewRefund(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: str
    reference: str


_PAYMENT = msgspec.json.Decoder(NewPayment)
_CAPTURE = msgspec.json.Decoder(NewCapture)
_REFUND = msgspec.json.Decoder(NewRefund)


class CaptureToy(VendorSimulator):
    """A vendor that authorizes, captures in parts and voids."""

    currencies = frozenset({"EUR"})
    id_prefix = "captoy"

    def __init__(self, options: SimulatorOptions[Any], **timing: Unpack[SimulatorTiming]) -> None:
        routes = (
            Route("POST", "payments", self._create),
            Route("GET", "payments/{external_id}", self._status),
            Route("POST", "payments/{external_id}/captures", self._capture),
            Route("GET", "captures/{reference}", self._capture_status),
            Route("POST", "payments/{external_id}/void", self._void),
            Route("POST", "payments/{external_id}/refunds", self._refund),
        )
        super().__init__(options, routes, **timing)

    def error_answer(self, status: int, code: str, message: str) -> Answer:
        return json_answer(status, {"toy_error": code})

    def notification(self, external_id: str, status: NotifiedStatus) -> Notification:
        body = json.dumps({"id": external_id, "status": status}).encode()
        return Notification(headers={"Content-Type": "application/json"}, body=body)

    async def _create(self, request: Request) -> Answer:
        self.take_call("initiate")
        body = decoded(_PAYMENT, request.body)
        payment, created = self.take_payment(
            body.reference,
            self.accepted_amount(body.amount),
            return_url=RETURN_URL,
            capture=body.capture,
        )
        answer = {"id": payment.id, "page": self.page_url(request, payment)}
        return json_answer(201 if created else 200, answer)

    async def _status(self, request: Request) -> Answer:
        self.take_call("status")
        return json_answer(200, self.payment(request.path_params["external_id"]).to_json())

    async def _capture(self, request: Request) -> Answer | None:
        self.take_call("capture")
        body = decoded(_CAPTURE, request.body)
        amount = self.accepted_amount(body.amount)
        behaviour = self.behaviour_for(amount, "capture", decline_code="capture_declined")
        capture, created = self.take_capture(
            request.path_params["external_id"], body.reference, amount, final=body.final
        )
        answer = json_answer(201 if created else 200, capture.to_json())
        return await self.misbehave_or(behaviour, request, answer)

    async def _capture_status(self, request: Request) -> Answer:
        self.take_call("status")
        return json_answer(
            200, self.capture_with_reference(request.path_params["reference"]).to_json()
        )

    async def _void(self, request: Request) -> Answer:
        self.take_call("void")
        payment = self.payment(request.path_params["external_id"])
        self.behaviour_for(payment.amount, "void", decline_code="void_declined")
        return json_answer(200, self.void_payment(payment.id).to_json())

    async def _refund(self, request: Request) -> Answer:
        self.take_call("refund")
        body = decoded(_REFUND, request.body)
        refund, _ = self.take_refund(
            request.path_params["external_id"], body.reference, self.accepted_amount(body.amount)
        )
        return json_answer(201, refund.to_json())


class SingleCaptureToy(CaptureToy):
    """A vendor that captures all of an authorization, once."""

    id_prefix = "onetoy"
    partial_capture = False
    multiple_captures = False


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
class Clock:
    now: float = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    url: str
    inbox: Inbox
    clock: Clock

    def notified(self, external_id: str) -> list[str]:
        with self.inbox.lock:
            return [item["status"] for item in self.inbox.received if item["id"] == external_id]


def served(kind: type[CaptureToy]) -> Iterator[Served]:
    inbox, clock = Inbox(), Clock()
    with serve_asgi(inbox) as inbox_url:
        simulator = kind(SimulatorOptions(settings=ToySettings(), webhook_url=inbox_url), now=clock)
        with serve_asgi(simulator) as url:
            yield Served(url, inbox, clock)


@pytest.fixture(scope="module")
def toy() -> Iterator[Served]:
    yield from served(CaptureToy)


@pytest.fixture(scope="module")
def single() -> Iterator[Served]:
    yield from served(SingleCaptureToy)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


counter = iter(range(1, 1_000_000))


async def authorized(client: httpx.AsyncClient, toy: Served, amount: str = "100.00 EUR") -> str:
    """A manual payment its payer authorized on the page; its id."""
    answer = await client.post(
        f"{toy.url}/payments",
        json={"amount": amount, "reference": f"pay-{next(counter)}", "capture": "manual"},
    )
    page = (await client.get(answer.json()["page"])).text
    assert f"Authorize {amount}" in page
    assert f"Pay {amount}" not in page
    await walk_payment_page(client, answer.json()["page"])
    external_id: str = answer.json()["id"]
    return external_id


async def capture(
    client: httpx.AsyncClient,
    toy: Served,
    external_id: str,
    amount: str,
    *,
    reference: str | None = None,
    final: bool = False,
) -> httpx.Response:
    return await client.post(
        f"{toy.url}/payments/{external_id}/captures",
        json={"amount": amount, "reference": reference or f"cap-{next(counter)}", "final": final},
    )


async def status(client: httpx.AsyncClient, toy: Served, external_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await client.get(f"{toy.url}/payments/{external_id}")).json()
    return answer


async def test_the_payer_authorizes_a_manual_payment_and_the_vendor_holds_it(
    toy: Served, client: httpx.AsyncClient
):
    external_id = await authorized(client, toy)

    held = await status(client, toy, external_id)
    assert toy.notified(external_id) == ["authorized"]
    assert held["status"] == "authorized"
    assert (held["capture"], held["authorized"], held["captured"]) == (
        "manual",
        "100.00 EUR",
        "0.00 EUR",
    )
    # Seven days after the payer authorized it (the clock stands at 2030-03-17T17:46:40Z).
    assert held["authorization_expires_at"] == "2030-03-24T17:46:40Z"
    assert "Payment authorized" in (await client.get(f"{toy.url}/pay/{external_id}")).text


async def test_an_automatic_payment_is_paid_and_shows_nothing_of_capture(
    toy: Served, client: httpx.AsyncClient
):
    answer = await client.post(
        f"{toy.url}/payments", json={"amount": "5.00 EUR", "reference": f"pay-{next(counter)}"}
    )
    assert "Pay 5.00 EUR" in (await client.get(answer.json()["page"])).text
    await walk_payment_page(client, answer.json()["page"])

    held = await status(client, toy, answer.json()["id"])
    assert held == {
        "id": answer.json()["id"],
        "reference": held["reference"],
        "status": "paid",
        "amount": "5.00 EUR",
    }


async def test_captures_in_parts_are_idempotent_on_their_reference_and_the_last_pays_it(
    toy: Served, client: httpx.AsyncClient
):
    external_id = await authorized(client, toy)

    first = await capture(client, toy, external_id, "30.00 EUR", reference="ship-1")
    again = await capture(client, toy, external_id, "30.00 EUR", reference="ship-1")
    conflict = await capture(client, toy, external_id, "31.00 EUR", reference="ship-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert (conflict.status_code, conflict.json()) == (409, {"toy_error": "reference_conflict"})
    assert (await status(client, toy, external_id))["captured"] == "30.00 EUR"

    too_much = await capture(client, toy, external_id, "70.01 EUR")
    assert (too_much.status_code, too_much.json()) == (
        422,
        {"toy_error": "amount_exceeds_authorized"},
    )
    rest = await capture(client, toy, external_id, "70.00 EUR")
    assert rest.status_code == 201
    held = await status(client, toy, external_id)
    assert (held["status"], held["captured"]) == ("paid", "100.00 EUR")
    found = await client.get(f"{toy.url}/captures/ship-1")
    assert found.json()["id"] == first.json()["id"]
    after = await capture(client, toy, external_id, "1.00 EUR")
    assert after.json() == {"toy_error": "payment_already_captured"}


async def test_a_final_capture_releases_the_rest(toy: Served, client: httpx.AsyncClient):
    external_id = await authorized(client, toy)

    assert (await capture(client, toy, external_id, "40.00 EUR", final=True)).status_code == 201

    held = await status(client, toy, external_id)
    assert (held["status"], held["captured"]) == ("paid", "40.00 EUR")
    refund = await client.post(
        f"{toy.url}/payments/{external_id}/refunds", json={"amount": "40.01 EUR", "reference": "r"}
    )
    assert refund.json() == {"toy_error": "amount_exceeds_refundable"}


async def test_a_vendor_without_partial_or_multiple_captures_refuses_them(
    single: Served, client: httpx.AsyncClient
):
    external_id = await authorized(client, single)

    part = await capture(client, single, external_id, "40.00 EUR")
    assert (part.status_code, part.json()) == (
        422,
        {"toy_error": "partial_capture_not_supported"},
    )
    assert (await capture(client, single, external_id, "100.00 EUR")).status_code == 201
    second = await capture(client, single, external_id, "100.00 EUR")
    assert second.json() == {"toy_error": "payment_already_captured"}


@pytest.mark.parametrize(
    ("make", "code"),
    [
        ("initiated", "payment_not_authorized"),
        ("automatic", "payment_not_authorized"),
        ("voided", "payment_voided"),
        ("expired", "authorization_expired"),
    ],
)
async def test_a_capture_of_a_payment_whose_authorization_is_not_held_is_refused(
    toy: Served, client: httpx.AsyncClient, make: str, code: str
):
    if make == "initiated":
        answer = await client.post(
            f"{toy.url}/payments",
            json={"amount": "9.00 EUR", "reference": f"pay-{next(counter)}", "capture": "manual"},
        )
        external_id = answer.json()["id"]
    elif make == "automatic":
        answer = await client.post(
            f"{toy.url}/payments", json={"amount": "9.00 EUR", "reference": f"pay-{next(counter)}"}
        )
        external_id = answer.json()["id"]
        await walk_payment_page(client, answer.json()["page"])
    else:
        external_id = await authorized(client, toy, "9.00 EUR")
        if make == "voided":
            await client.post(f"{toy.url}/payments/{external_id}/void")
        else:
            await client.post(f"{toy.url}/_simulator/payments/{external_id}/expire-authorization")

    refused = await capture(client, toy, external_id, "9.00 EUR")

    assert refused.status_code in (409, 422)
    assert refused.json() == {"toy_error": code}


async def test_void_releases_an_authorization_once_and_not_after_a_capture(
    toy: Served, client: httpx.AsyncClient
):
    external_id = await authorized(client, toy)

    first = await client.post(f"{toy.url}/payments/{external_id}/void")
    again = await client.post(f"{toy.url}/payments/{external_id}/void")

    assert (first.status_code, again.status_code) == (200, 200)
    assert (await status(client, toy, external_id))["status"] == "voided"
    assert "Authorization released" in (await client.get(f"{toy.url}/pay/{external_id}")).text
    captured = await authorized(client, toy)
    await capture(client, toy, captured, "1.00 EUR")
    refused = await client.post(f"{toy.url}/payments/{captured}/void")
    assert (refused.status_code, refused.json()) == (
        409,
        {"toy_error": "payment_already_captured"},
    )


async def test_an_authorization_made_to_lapse_is_expired_and_notified(
    toy: Served, client: httpx.AsyncClient
):
    external_id = await authorized(client, toy)

    lapsed = await client.post(f"{toy.url}/_simulator/payments/{external_id}/expire-authorization")

    assert lapsed.status_code == 200
    assert toy.notified(external_id) == ["authorized", "expired"]
    assert (await status(client, toy, external_id))["status"] == "expired"
    void = await client.post(f"{toy.url}/payments/{external_id}/void")
    assert void.json() == {"toy_error": "authorization_expired"}


async def test_an_authorization_lapses_by_itself_after_its_lifetime(
    toy: Served, client: httpx.AsyncClient
):
    external_id = await authorized(client, toy)
    toy.clock.now += AUTHORIZATION_LIFETIME_SECONDS

    refused = await capture(client, toy, external_id, "1.00 EUR")

    toy.clock.now -= AUTHORIZATION_LIFETIME_SECONDS
    assert refused.json() == {"toy_error": "authorization_expired"}
    assert (await status(client, toy, external_id))["status"] == "expired"


@pytest.mark.parametrize(
    ("action", "status_code"), [("decline", 402), ("unavailable_503", 503), ("error_500", 500)]
)
async def test_a_capture_misbehaves_as_its_behaviour_says(
    toy: Served, client: httpx.AsyncClient, action: str, status_code: int
):
    external_id = await authorized(client, toy, "13.00 EUR")
    await client.post(
        f"{toy.url}/_simulator/behaviours",
        json={"amount": "13.00 EUR", "operation": "capture", "action": action},
    )
    try:
        answer = await capture(client, toy, external_id, "13.00 EUR")
    finally:
        await client.delete(f"{toy.url}/_simulator/behaviours")

    assert answer.status_code == status_code
    captured = (await status(client, toy, external_id))["captured"]
    assert captured == ("13.00 EUR" if action == "error_500" else "0.00 EUR")


async def test_captures_and_voids_are_counted_and_listed(toy: Served, client: httpx.AsyncClient):
    before = (await client.get(f"{toy.url}/_simulator/calls")).json()
    external_id = await authorized(client, toy)
    await capture(client, toy, external_id, "10.00 EUR", reference="listed-1")
    await client.post(f"{toy.url}/payments/{external_id}/void")

    after = (await client.get(f"{toy.url}/_simulator/calls")).json()
    assert (after["capture"] - before["capture"], after["void"] - before["void"]) == (1, 1)
    listed = (await client.get(f"{toy.url}/_simulator/payments")).json()["payments"]
    [payment] = [item for item in listed if item["id"] == external_id]
    assert [item["reference"] for item in payment["captures"]] == ["listed-1"]
