"""What every simulator built on VendorSimulator does, shown on the smallest vendor possible.

The toy vendor takes JSON bodies and answers errors as ``{"toy_error": code}``, so a test can
tell the vendor's error format (its own routes) from the control endpoints' (``{"error": ...}``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any, Literal, Unpack

import httpx
import msgspec
import pytest
from payments_plugins import SimulatorOptions
from payments_plugins.simulation import (
    MAX_REQUEST_BYTES,
    Answer,
    Notification,
    NotifiedStatus,
    Request,
    Route,
    SimulatedPayment,
    SimulatedRefund,
    SimulatorTiming,
    VendorSimulator,
    decoded,
    json_answer,
)
from pytest_httpserver import HTTPServer


class ToySettings(msgspec.Struct, frozen=True):
    """The toy vendor needs no settings."""


class Call(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A payment, or with ``refund_of`` a refund of that payment."""

    amount: str
    reference: str
    refund_of: str | None = None


_CALL = msgspec.json.Decoder(Call)


class ToyVendor(VendorSimulator):
    """Takes payments and refunds at one route, answers errors as ``{"toy_error": code}``."""

    currencies = frozenset({"AED", "USD"})
    id_prefix = "toy"
    created_status = 201

    def __init__(self, options: SimulatorOptions[Any], **timing: Unpack[SimulatorTiming]) -> None:
        routes = (
            Route("POST", "calls", self._call),
            Route("GET", "payments/{external_id}", self._payment),
        )
        super().__init__(options, routes, **timing)

    def error_answer(self, status: int, code: str, message: str) -> Answer:
        return json_answer(status, {"toy_error": code})

    def notification(self, external_id: str, status: NotifiedStatus) -> Notification:
        body = json.dumps({"id": external_id, "status": status}).encode()
        return Notification(headers={"Content-Type": "application/json"}, body=body)

    async def _call(self, request: Request) -> Answer | None:
        call = decoded(_CALL, request.body)
        kind: Literal["initiate", "refund"] = "initiate" if call.refund_of is None else "refund"
        self.take_call(kind)
        amount = self.accepted_amount(call.amount)
        behaviour = self.behaviour_for(amount, kind, decline_code=f"toy_{kind}_declined")
        taken: tuple[SimulatedPayment | SimulatedRefund, bool] = (
            self.take_payment(call.reference, amount)
            if call.refund_of is None
            else self.take_refund(call.refund_of, call.reference, amount)
        )
        record, created = taken
        answer = json_answer(201 if created else 200, {"id": record.id})
        return await self.misbehave_or(behaviour, request, answer)

    async def _payment(self, request: Request) -> Answer:
        self.take_call("status")
        return json_answer(200, self.payment(request.path_params["external_id"]).to_json())


def toy(**options: Any) -> ToyVendor:
    return ToyVendor(SimulatorOptions(settings=ToySettings(), **options), timeout_seconds=0.05)


@pytest.fixture
def simulator() -> ToyVendor:
    return toy()


@pytest.fixture
async def vendor(simulator: ToyVendor) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator called in-process, without lifespan, as when mounted."""
    transport = httpx.ASGITransport(app=simulator)
    async with httpx.AsyncClient(transport=transport, base_url="http://vendor") as client:
        yield client
    await simulator.aclose()


async def pay(vendor: httpx.AsyncClient, amount: str, reference: str = "p-1") -> httpx.Response:
    return await vendor.post("/calls", json={"amount": amount, "reference": reference})


async def paid(vendor: httpx.AsyncClient, amount: str = "10.00 AED") -> str:
    external_id: str = (await pay(vendor, amount, reference=f"paid-{amount}")).json()["id"]
    moved = await vendor.post(f"/_simulator/payments/{external_id}/status", json={"status": "paid"})
    assert moved.status_code == 200
    return external_id


async def pay_back(
    vendor: httpx.AsyncClient, external_id: str, amount: str, reference: str = "r-1"
) -> httpx.Response:
    body = {"amount": amount, "reference": reference, "refund_of": external_id}
    return await vendor.post("/calls", json=body)


async def misbehave(
    vendor: httpx.AsyncClient, amount: str, action: str, operation: str = "any"
) -> None:
    body = {"amount": amount, "operation": operation, "action": action}
    assert (await vendor.post("/_simulator/behaviours", json=body)).status_code == 200


async def held(vendor: httpx.AsyncClient) -> list[dict[str, Any]]:
    payments: list[dict[str, Any]] = (await vendor.get("/_simulator/payments")).json()["payments"]
    return payments


# Routing.


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("GET", "/", 404, "not_found"),
        ("GET", "/payments", 404, "not_found"),
        ("GET", "/calls", 405, "method_not_allowed"),
        ("PUT", "/payments/toy_1", 405, "method_not_allowed"),
        ("GET", "/_simulator/down", 405, "method_not_allowed"),
        ("POST", "/_simulator/calls", 405, "method_not_allowed"),
    ],
)
async def test_unknown_routes_and_methods_are_refused_with_the_json_error_body(
    vendor: httpx.AsyncClient, method: str, path: str, status: int, code: str
):
    response = await vendor.request(method, path)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("path", ["/calls", "/_simulator/behaviours"])
async def test_a_body_over_the_limit_is_refused_unread(vendor: httpx.AsyncClient, path: str):
    response = await vendor.post(path, content=b"x" * (MAX_REQUEST_BYTES + 1))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


async def test_a_mounted_simulator_routes_below_its_root_path(simulator: ToyVendor):
    transport = httpx.ASGITransport(app=simulator, root_path="/vendors/toy")
    async with httpx.AsyncClient(transport=transport, base_url="http://platform") as client:
        response = await client.get("/vendors/toy/_simulator/calls")

    assert response.json() == {
        "initiate": 0,
        "refund": 0,
        "status": 0,
        "cancel": 0,
        "capture": 0,
        "void": 0,
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "invalid_request"),
        (b'{"amount": "1.00 AED"}', 400, "invalid_request"),
        (b'{"amount": "1.001 AED", "reference": "r"}', 400, "invalid_amount"),
        (b'{"amount": "1.00 ZZZ", "reference": "r"}', 400, "invalid_amount"),
        (b'{"amount": "0.00 AED", "reference": "r"}', 400, "invalid_amount"),
        (b'{"amount": "1.00 EUR", "reference": "r"}', 422, "unsupported_currency"),
    ],
)
async def test_a_refusal_on_a_vendor_route_is_answered_in_the_vendors_format(
    vendor: httpx.AsyncClient, body: bytes, status: int, code: str
):
    response = await vendor.post("/calls", content=body)

    assert response.status_code == status
    assert response.json() == {"toy_error": code}
    assert await held(vendor) == []


# The books.


async def test_a_payment_is_idempotent_on_the_callers_reference(vendor: httpx.AsyncClient):
    first = await pay(vendor, "5.00 AED")
    again = await pay(vendor, "5.00 AED")
    other_amount = await pay(vendor, "6.00 AED")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["id"].startswith("toy_")
    assert (other_amount.status_code, other_amount.json()) == (
        409,
        {"toy_error": "reference_conflict"},
    )
    assert await held(vendor) == [
        {
            "id": first.json()["id"],
            "reference": "p-1",
            "status": "initiated",
            "amount": "5.00 AED",
            "refunds": [],
            "captures": [],
            "return_url": None,
            "description": None,
        }
    ]


async def test_a_paid_payment_is_refunded_in_its_currency_never_beyond_what_is_left(
    vendor: httpx.AsyncClient,
):
    external_id = await paid(vendor, "10.00 AED")

    first = await pay_back(vendor, external_id, "6.00 AED", reference="r-1")
    again = await pay_back(vendor, external_id, "6.00 AED", reference="r-1")
    too_much = await pay_back(vendor, external_id, "4.01 AED", reference="r-2")
    other_currency = await pay_back(vendor, external_id, "1.00 USD", reference="r-3")
    reused = await pay_back(vendor, external_id, "1.00 AED", reference="r-1")
    rest = await pay_back(vendor, external_id, "4.00 AED", reference="r-4")

    assert [answer.status_code for answer in (first, again, rest)] == [201, 200, 201]
    assert first.json() == again.json()
    assert first.json()["id"].startswith("toyrf_")
    assert [answer.json()["toy_error"] for answer in (too_much, other_currency, reused)] == [
        "amount_exceeds_refundable",
        "currency_mismatch",
        "reference_conflict",
    ]
    [payment] = await held(vendor)
    assert [
        (refund["id"], refund["reference"], refund["amount"]) for refund in payment["refunds"]
    ] == [
        (first.json()["id"], "r-1", "6.00 AED"),
        (rest.json()["id"], "r-4", "4.00 AED"),
    ]
    assert {refund["payment_id"] for refund in payment["refunds"]} == {external_id}


@pytest.mark.parametrize(
    ("paid_first", "payment_id", "status", "code"),
    [(False, None, 422, "payment_not_paid"), (True, "toy_unknown", 404, "payment_not_found")],
)
async def test_only_a_paid_payment_the_vendor_holds_is_refunded(
    vendor: httpx.AsyncClient, paid_first: bool, payment_id: str | None, status: int, code: str
):
    external_id = await paid(vendor) if paid_first else (await pay(vendor, "1.00 AED")).json()["id"]

    response = await pay_back(vendor, payment_id or external_id, "1.00 AED")

    assert (response.status_code, response.json()) == (status, {"toy_error": code})


async def test_concurrent_payments_with_one_reference_create_one(vendor: httpx.AsyncClient):
    answers = await asyncio.gather(*(pay(vendor, "3.00 AED", reference="race") for _ in range(20)))

    assert len({answer.json()["id"] for answer in answers}) == 1
    assert sorted(answer.status_code for answer in answers) == [200] * 19 + [201]
    assert len(await held(vendor)) == 1


async def test_concurrent_full_refunds_pay_out_once(vendor: httpx.AsyncClient):
    external_id = await paid(vendor, "10.00 AED")

    answers = await asyncio.gather(
        *(pay_back(vendor, external_id, "10.00 AED", reference=f"r-{n}") for n in range(10))
    )

    assert sorted(answer.status_code for answer in answers) == [201] + [422] * 9
    [payment] = await held(vendor)
    assert len(payment["refunds"]) == 1


async def test_every_vendor_call_is_counted_by_kind(vendor: httpx.AsyncClient):
    external_id = await paid(vendor)
    await pay_back(vendor, external_id, "1.00 AED")
    await vendor.get(f"/payments/{external_id}")
    await vendor.get("/payments/toy_unknown")
    await pay(vendor, "1.00 EUR")

    assert (await vendor.get("/_simulator/calls")).json() == {
        "initiate": 2,
        "refund": 1,
        "status": 2,
        "cancel": 0,
        "capture": 0,
        "void": 0,
    }


# Behaviours and down mode.


@pytest.mark.parametrize(
    ("action", "status", "recorded"),
    [
        ("unavailable_503", 503, False),
        ("decline", 402, False),
        ("soft_decline", 402, False),
        ("error_500", 500, True),
        ("garbage", 201, True),
        ("timeout", 201, True),
        ("slow", 201, True),
    ],
)
@pytest.mark.parametrize("operation", ["initiate", "any"])
async def test_a_behaviour_answers_its_way_and_records_the_call_or_not(
    vendor: httpx.AsyncClient, operation: str, action: str, status: int, recorded: bool
):
    await misbehave(vendor, "13.00 AED", action, operation)

    response = await pay(vendor, "13.00 AED")
    others = [await pay(vendor, "13.00 USD", "p-usd"), await pay(vendor, "13.01 AED", "p-2")]

    assert response.status_code == status
    assert [answer.status_code for answer in others] == [201, 201]
    assert ("p-1" in {payment["reference"] for payment in await held(vendor)}) is recorded


@pytest.mark.parametrize(
    ("action", "answer"),
    [
        ("unavailable_503", {"toy_error": "unavailable"}),
        ("decline", {"toy_error": "toy_initiate_declined"}),
        ("soft_decline", {"toy_error": "try_again_later"}),
        ("error_500", {"toy_error": "internal_error"}),
    ],
)
async def test_a_refusing_behaviour_is_answered_in_the_vendors_format(
    vendor: httpx.AsyncClient, action: str, answer: dict[str, str]
):
    await misbehave(vendor, "13.00 AED", action)

    assert (await pay(vendor, "13.00 AED")).json() == answer


async def test_a_garbage_answer_claims_success_with_a_page_no_api_documents(
    vendor: httpx.AsyncClient,
):
    await misbehave(vendor, "13.00 AED", "garbage")

    response = await pay(vendor, "13.00 AED")

    assert response.headers["content-type"] == "text/html"
    assert response.text.startswith("<html>")


async def test_a_behaviour_for_refunds_leaves_payments_of_the_amount_alone(
    vendor: httpx.AsyncClient,
):
    external_id = await paid(vendor, "20.00 AED")
    await misbehave(vendor, "7.00 AED", "decline", "refund")

    declined = await pay_back(vendor, external_id, "7.00 AED")
    payment = await pay(vendor, "7.00 AED")

    assert declined.json() == {"toy_error": "toy_refund_declined"}
    assert payment.status_code == 201


async def test_a_timeout_gives_up_when_the_client_leaves_but_still_records(
    simulator: ToyVendor, vendor: httpx.AsyncClient
):
    await misbehave(vendor, "9.00 AED", "timeout")
    sent: list[MutableMapping[str, Any]] = []
    messages: Iterator[MutableMapping[str, Any]] = iter(
        [
            {"type": "http.request", "body": b'{"amount": "9.00 AED", "reference": "gone"}'},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> MutableMapping[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await simulator(_scope("POST", "/calls"), receive, send)

    assert sent == []
    assert simulator.payment_with_reference("gone").amount.format() == "9.00 AED"


async def test_a_slow_call_is_held_before_it_is_processed_and_counted_once(
    vendor: httpx.AsyncClient,
):
    """The ``slow`` behaviour holds a call *before* the vendor processes it (a vendor under
    load), unlike ``timeout``, which records first: while held, the vendor has nothing."""
    body = {"amount": "9.00 AED", "operation": "initiate", "action": "slow", "seconds": 0.3}
    assert (await vendor.post("/_simulator/behaviours", json=body)).status_code == 200

    call = asyncio.create_task(pay(vendor, "9.00 AED", reference="queued"))
    await asyncio.sleep(0.1)
    while_held = await held(vendor)
    answer = await call

    assert while_held == []
    assert answer.status_code == 201
    assert [payment["reference"] for payment in await held(vendor)] == ["queued"]
    assert (await vendor.get("/_simulator/calls")).json()["initiate"] == 1


async def test_a_slow_call_is_processed_even_when_its_caller_gave_up(simulator: ToyVendor):
    """The request is in the vendor's queue: a caller that stops waiting does not take it back,
    which is how a call the platform left at its deadline can still reach the vendor."""
    transport = httpx.ASGITransport(app=simulator)
    async with httpx.AsyncClient(transport=transport, base_url="http://vendor") as client:
        body = {"amount": "9.00 AED", "operation": "any", "action": "slow", "seconds": 0.3}
        await client.post("/_simulator/behaviours", json=body)
    messages: Iterator[MutableMapping[str, Any]] = iter(
        [
            {"type": "http.request", "body": b'{"amount": "9.00 AED", "reference": "gone"}'},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> MutableMapping[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    await simulator(_scope("POST", "/calls"), receive, send)

    assert simulator.payment_with_reference("gone").amount.format() == "9.00 AED"


async def test_seconds_are_for_the_slow_action_only(vendor: httpx.AsyncClient):
    body = {"amount": "9.00 AED", "operation": "any", "action": "timeout", "seconds": 3}

    refused = await vendor.post("/_simulator/behaviours", json=body)

    assert refused.status_code == 400
    assert "slow" in refused.json()["error"]["message"]


async def test_behaviours_are_listed_and_cleared(vendor: httpx.AsyncClient):
    body = {"amount": "13.00 AED", "operation": "refund", "action": "timeout"}
    added = await vendor.post("/_simulator/behaviours", json=body)
    cleared = await vendor.delete("/_simulator/behaviours")

    assert added.json() == {"behaviours": [body]}
    assert cleared.json() == {"behaviours": []}
    assert (await pay(vendor, "13.00 AED")).status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("behaviours", b'{"amount": "1.00 AED", "action": "error_500"}', 400, "invalid_request"),
        (
            "behaviours",
            b'{"amount": "1.00 AED", "operation": "any", "action": "explode"}',
            400,
            "invalid_request",
        ),
        (
            "behaviours",
            b'{"amount": "one AED", "operation": "any", "action": "decline"}',
            400,
            "invalid_amount",
        ),
        (
            "behaviours",
            b'{"amount": "1.00 EUR", "operation": "any", "action": "decline"}',
            422,
            "unsupported_currency",
        ),
        ("payments/nobody/status", b'{"status": "paid"}', 404, "payment_not_found"),
        ("payments/nobody/status", b'{"status": "refunded"}', 400, "invalid_request"),
    ],
)
async def test_a_control_request_that_is_not_acceptable_is_refused_with_the_json_error_body(
    vendor: httpx.AsyncClient, path: str, body: bytes, status: int, code: str
):
    response = await vendor.post(f"/_simulator/{path}", content=body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


async def test_while_down_every_vendor_call_is_refused_and_nothing_is_recorded(
    vendor: httpx.AsyncClient,
):
    external_id = await paid(vendor)
    assert (await vendor.post("/_simulator/down")).json() == {"down": True}

    refused = [
        await pay(vendor, "2.00 AED", "while-down"),
        await pay_back(vendor, external_id, "1.00 AED"),
        await vendor.get(f"/payments/{external_id}"),
    ]
    assert (await vendor.post("/_simulator/up")).json() == {"down": False}

    assert {(answer.status_code, answer.json()["toy_error"]) for answer in refused} == {
        (503, "unavailable")
    }
    assert [payment["reference"] for payment in await held(vendor)] == ["paid-10.00 AED"]
    assert (await pay(vendor, "2.00 AED", "while-down")).status_code == 201


# Notifications.


async def test_a_status_set_without_a_webhook_url_posts_nothing(vendor: httpx.AsyncClient):
    external_id = (await pay(vendor, "1.00 AED")).json()["id"]

    moved = await vendor.post(f"/_simulator/payments/{external_id}/status", json={"status": "paid"})

    assert moved.json() == {
        "payment": {
            "id": external_id,
            "reference": "p-1",
            "status": "paid",
            "amount": "1.00 AED",
        },
        "webhook": None,
    }


async def test_a_status_set_posts_the_notification_and_describes_its_delivery(
    httpserver: HTTPServer,
):
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("thanks", 202)
    simulator = toy(webhook_url=httpserver.url_for("/hook"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator), base_url="http://vendor"
    ) as vendor:
        external_id = (await pay(vendor, "1.00 AED")).json()["id"]
        moved = await vendor.post(
            f"/_simulator/payments/{external_id}/status", json={"status": "failed"}
        )
    await simulator.aclose()

    assert moved.json()["webhook"] == {
        "url": httpserver.url_for("/hook"),
        "body": {"id": external_id, "status": "failed"},
        "headers": {"Content-Type": "application/json"},
        "status_code": 202,
        "answer": "thanks",
        "error": None,
    }
    [(received, _)] = httpserver.log
    assert json.loads(received.get_data()) == {"id": external_id, "status": "failed"}


async def test_a_notification_that_cannot_be_delivered_is_described_as_such():
    simulator = toy(webhook_url="http://127.0.0.1:1/hook")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator), base_url="http://vendor"
    ) as vendor:
        external_id = (await pay(vendor, "1.00 AED")).json()["id"]
        moved = await vendor.post(
            f"/_simulator/payments/{external_id}/status", json={"status": "paid"}
        )
    await simulator.aclose()

    assert moved.status_code == 200
    assert moved.json()["webhook"]["status_code"] is None
    assert moved.json()["webhook"]["error"].startswith("ConnectError")


async def test_the_automatic_status_is_posted_for_each_new_payment(httpserver: HTTPServer):
    httpserver.expect_oneshot_request("/hook").respond_with_data("", 200)
    simulator = toy(webhook_url=httpserver.url_for("/hook"), auto_webhook_status="expired")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator), base_url="http://vendor"
    ) as vendor:
        external_id = (await pay(vendor, "1.00 AED")).json()["id"]
        await pay(vendor, "1.00 AED")  # a repeat is not a new payment
        await asyncio.wait_for(asyncio.gather(*simulator._webhook_tasks), timeout=5)
    await simulator.aclose()

    [(received, _)] = httpserver.log
    assert json.loads(received.get_data()) == {"id": external_id, "status": "expired"}
    assert simulator.payment(external_id).status == "expired"


async def test_a_payment_moved_by_hand_keeps_its_status_over_the_automatic_one():
    simulator = toy(
        webhook_url="http://127.0.0.1:1/hook", auto_webhook_status="paid", auto_webhook_delay=0.05
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator), base_url="http://vendor"
    ) as vendor:
        external_id = (await pay(vendor, "1.00 AED")).json()["id"]
        await vendor.post(f"/_simulator/payments/{external_id}/status", json={"status": "failed"})
        await asyncio.sleep(0.2)
    await simulator.aclose()

    assert simulator.payment(external_id).status == "failed"


async def test_with_the_payer_paying_at_once_a_payment_is_paid_without_a_notification(
    httpserver: HTTPServer,
):
    simulator = toy(webhook_url=httpserver.url_for("/hook"), payer_pays_at_once=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator), base_url="http://vendor"
    ) as vendor:
        external_id = (await pay(vendor, "12.00 AED")).json()["id"]
        refunded = await pay_back(vendor, external_id, "12.00 AED")
    await simulator.aclose()

    assert simulator.payment(external_id).status == "paid"
    assert refunded.status_code == 201
    assert httpserver.log == []


# The app itself.


@pytest.mark.parametrize(
    ("options", "timing", "named"),
    [
        ({"auto_webhook_status": "refunded"}, {}, "auto_webhook_status"),
        ({"auto_webhook_delay": -1}, {}, "auto_webhook_delay"),
        ({}, {"timeout_seconds": -1}, "timeout_seconds"),
    ],
)
def test_options_the_simulator_cannot_honour_are_refused(
    options: dict[str, Any], timing: dict[str, Any], named: str
):
    with pytest.raises(ValueError, match=named):
        ToyVendor(SimulatorOptions(settings=ToySettings(), **options), **timing)


async def test_the_lifespan_is_answered_and_shutdown_closes_what_the_simulator_holds():
    simulator = toy(
        webhook_url="http://127.0.0.1:1/hook", auto_webhook_status="paid", auto_webhook_delay=30
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator), base_url="http://vendor"
    ) as vendor:
        await pay(vendor, "1.00 AED")
    sent: list[str] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> MutableMapping[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])

    await simulator({"type": "lifespan"}, receive, send)

    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert simulator._webhook_tasks == set()


async def test_a_websocket_is_not_served(simulator: ToyVendor):
    async def receive() -> MutableMapping[str, Any]:
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        raise AssertionError

    with pytest.raises(ValueError, match="HTTP only"):
        await simulator({"type": "websocket"}, receive, send)


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": b"", "headers": []}
