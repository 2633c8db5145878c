"""Races, crashes and restarts against real server processes, on SQLite and PostgreSQL.

The vendor is the JSON simulator served over HTTP in the test process; its call counters say
how many times money could have moved.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from core_fixtures import OPEN
from payments_plugins.testing.asgi_server import free_port

from .conftest import Vendor, json_vendor
from .server_process import ServerProcess, migrate, payments_serve, write_config

SETTLE_SECONDS = 30.0
NO_WORKER = {"PAYMENTS_WORKER__ENABLED": "false"}
"""The process to be killed runs no worker, so only the restarted one can reconcile."""


def config_for(
    tmp_path: Path, database_url: str, gateways: dict[str, Any], **sections: Any
) -> Path:
    config = {"database": {"url": database_url}, "security": OPEN, "gateways": gateways}
    config.update(sections)
    path = write_config(tmp_path / f"payments-{uuid.uuid4().hex[:6]}.toml", config)
    migrate(path)
    return path


def json_gateway(vendor: Vendor, deadline_seconds: float = 1.0, **settings: Any) -> dict[str, Any]:
    # A short deadline lets QUICK_RECOVERY's guards fire soon after a call is surely over.
    return {
        "type": "json",
        "deadline_seconds": deadline_seconds,
        "settings": {"base_url": vendor.base_url, **settings},
    }


def wait_for(condition: Callable[[], bool], what: str, seconds: float = SETTLE_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def vendor_state(vendor: Vendor) -> dict[str, Any]:
    """What the vendor holds, by our payment id (its reference)."""
    listed = httpx.get(f"{vendor.base_url}/_simulator/payments").json()["payments"]
    return {payment["reference"]: payment for payment in listed}


def vendor_calls(vendor: Vendor) -> dict[str, int]:
    calls: dict[str, int] = httpx.get(f"{vendor.base_url}/_simulator/calls").json()
    return calls


def payment_status(server: ServerProcess, payment_id: str) -> str:
    detail = httpx.get(f"{server.base_url}/payments/{payment_id}").json()
    status: str = detail["payment"]["status"]
    return status


def paid_payment(server: ServerProcess, vendor: Vendor, amount: int) -> str:
    payment_id = str(uuid.uuid4())
    created = httpx.post(
        f"{server.base_url}/init-payment",
        json={"id": payment_id, "currency": "AED", "amount_fractions": amount},
    )
    assert created.status_code == 201, created.text
    external_id = created.json()["external_id"]
    httpx.post(
        f"{vendor.base_url}/_simulator/payments/{external_id}/status", json={"status": "paid"}
    ).raise_for_status()
    paid = httpx.post(
        f"{server.base_url}/external/json-webhook",
        json={"external_id": external_id, "status": "paid"},
    )
    assert paid.status_code == 200, paid.text
    return payment_id


async def _post_all(requests: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(*(client.post(url, json=body) for url, body in requests))


def post_concurrently(requests: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send every request at once, each on its own connection."""
    return asyncio.run(_post_all(requests))


@pytest.fixture
def two_servers(
    tmp_path: Path, database_url: str, vendor: Vendor
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    config = config_for(tmp_path, database_url, {"json": json_gateway(vendor)})
    with (
        payments_serve(tmp_path, config=config) as first,
        payments_serve(tmp_path, config=config) as second,
    ):
        yield first, second


def test_200_identical_inits_at_once_make_exactly_one_gateway_call(
    tmp_path: Path, database_url: str, vendor: Vendor
) -> None:
    config = config_for(tmp_path, database_url, {"json": json_gateway(vendor)})
    with payments_serve(tmp_path, config=config) as server:
        payment_id = str(uuid.uuid4())
        body = {"id": payment_id, "currency": "AED", "amount_fractions": 4321}
        answers = post_concurrently([(f"{server.base_url}/init-payment", body)] * 200)
        statuses = Counter(answer.status_code for answer in answers)
        assert statuses[201] == 1, statuses
        assert set(statuses) <= {200, 201, 409}, statuses
        conflicts = [a.json()["code"] for a in answers if a.status_code == 409]
        assert set(conflicts) <= {"payment-in-progress"}
        assert all(a.headers["retry-after"] for a in answers if a.status_code == 409)
        assert vendor_calls(vendor)["initiate"] == 1
        assert payment_status(server, payment_id) == "initiated"


def test_100_refunds_at_once_over_two_processes_pay_out_exactly_once(
    two_servers: tuple[ServerProcess, ServerProcess], vendor: Vendor
) -> None:
    first, second = two_servers
    payment_id = paid_payment(first, vendor, 5000)
    requests = [
        (f"{server.base_url}/refund", {"id": payment_id}) for server in [first, second] * 50
    ]
    answers = post_concurrently(requests)
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 1, 409: 99}, statuses
    [refunded] = [a.json() for a in answers if a.status_code == 200]
    assert refunded["refund"]["status"] == "succeeded"
    assert vendor_calls(vendor)["refund"] == 1
    detail = httpx.get(f"{second.base_url}/payments/{payment_id}").json()
    assert detail["payment"]["status"] == "refunded"
    assert detail["payment"]["refunded_fractions"] == 5000
    assert [r["status"] for r in detail["refunds"]] == ["succeeded"]


@pytest.mark.parametrize("amount", [None, 1000], ids=["whole", "part"])
def test_50_refunds_with_one_refund_id_over_two_processes_are_one_refund(
    two_servers: tuple[ServerProcess, ServerProcess], vendor: Vendor, amount: int | None
) -> None:
    first, second = two_servers
    payment_id = paid_payment(first, vendor, 5000)
    body: dict[str, Any] = {"id": payment_id, "refund_id": str(uuid.uuid4())}
    if amount is not None:
        body["amount_fractions"] = amount
    answers = post_concurrently(
        [(f"{server.base_url}/refund", body) for server in [first, second] * 25]
    )
    # Each repeat answers with the one refund, as it stands: sent and answered, or in flight.
    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {200, 202}, [a.text for a in answers if a.status_code >= 300][:3]
    assert {a.json()["refund"]["id"] for a in answers} == {body["refund_id"]}
    assert vendor_calls(vendor)["refund"] == 1
    detail = httpx.get(f"{second.base_url}/payments/{payment_id}").json()
    assert [(r["id"], r["status"]) for r in detail["refunds"]] == [(body["refund_id"], "succeeded")]
    assert detail["payment"]["refunded_fractions"] == (amount or 5000)


def test_racing_partial_refunds_never_refund_more_than_was_paid(
    two_servers: tuple[ServerProcess, ServerProcess], vendor: Vendor
) -> None:
    first, second = two_servers
    payment_id = paid_payment(first, vendor, 1000)
    requests = [
        (
            f"{server.base_url}/refund",
            {"id": payment_id, "amount_fractions": 100, "refund_id": str(uuid.uuid4())},
        )
        for server in [first, second] * 13
    ]
    answers = post_concurrently(requests)
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 10, 409: 16}, statuses
    assert vendor_calls(vendor)["refund"] == 10
    detail = httpx.get(f"{first.base_url}/payments/{payment_id}").json()
    assert detail["payment"]["refunded_fractions"] == 1000
    assert detail["payment"]["status"] == "refunded"
    assert (
        sum(r["amount_fractions"] for r in detail["refunds"] if r["status"] == "succeeded") == 1000
    )


def in_background(url: str, body: dict[str, Any]) -> Future[httpx.Response]:
    """Send a request from another thread; the future holds its answer or its error."""
    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(httpx.post, url, json=body, timeout=60)
    executor.shutdown(wait=False)
    return future


QUICK_RECOVERY: dict[str, Any] = {
    "payments": {"reconcile_after_seconds": 3.0},
    "worker": {"poll_seconds": 0.1, "backoff_seconds": 0.2},
}
"""Guards that fire after a second and workers that look often, so recovery fits in a test."""


def _kill(server: ServerProcess) -> None:
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()


def test_a_server_killed_after_the_vendor_accepted_a_payment_reconciles_it_after_restart(
    tmp_path: Path, database_url: str, vendor: Vendor
) -> None:
    config = config_for(tmp_path, database_url, {"json": json_gateway(vendor)}, **QUICK_RECOVERY)
    asyncio.run(vendor.misbehave("77.77 AED", "timeout", operation="initiate"))
    payment_id = str(uuid.uuid4())
    with payments_serve(
        tmp_path, config=config, env={"PAYMENTS_WORKER__ENABLED": "false"}
    ) as doomed:
        pending = in_background(
            f"{doomed.base_url}/init-payment",
            {"id": payment_id, "currency": "AED", "amount_fractions": 7777},
        )
        wait_for(lambda: payment_id in vendor_state(vendor), "the vendor holds the payment")
        _kill(doomed)
        with pytest.raises(httpx.TransportError):
            pending.result()

    with payments_serve(tmp_path, config=config) as revived:
        wait_for(lambda: payment_status(revived, payment_id) == "initiated", "reconciled")
        detail = httpx.get(f"{revived.base_url}/payments/{payment_id}").json()
        assert detail["payment"]["external_id"]
        assert [a["outcome"] for a in detail["attempts"]] == ["unknown"]
    assert vendor_calls(vendor)["initiate"] == 1


def test_a_server_killed_after_the_vendor_accepted_a_refund_reconciles_it_after_restart(
    tmp_path: Path, database_url: str, vendor: Vendor
) -> None:
    config = config_for(tmp_path, database_url, {"json": json_gateway(vendor)}, **QUICK_RECOVERY)
    asyncio.run(vendor.misbehave("88.88 AED", "timeout", operation="refund"))
    with payments_serve(
        tmp_path, config=config, env={"PAYMENTS_WORKER__ENABLED": "false"}
    ) as doomed:
        payment_id = paid_payment(doomed, vendor, 8888)
        pending = in_background(f"{doomed.base_url}/refund", {"id": payment_id})
        wait_for(lambda: bool(vendor_state(vendor)[payment_id]["refunds"]), "the vendor refunded")
        _kill(doomed)
        with pytest.raises(httpx.TransportError):
            pending.result()

    with payments_serve(tmp_path, config=config) as revived:
        wait_for(lambda: payment_status(revived, payment_id) == "refunded", "reconciled")
        detail = httpx.get(f"{revived.base_url}/payments/{payment_id}").json()
        [refund] = detail["refunds"]
        assert refund["status"] == "succeeded"
        assert refund["external_refund_id"]
    assert vendor_calls(vendor)["refund"] == 1


def test_a_gateway_timeout_is_unknown_never_fails_over_and_is_reconciled(
    tmp_path: Path, database_url: str, vendor: Vendor
) -> None:
    from .conftest import json_vendor

    with json_vendor() as backup:
        config = config_for(
            tmp_path,
            database_url,
            {
                "slow": json_gateway(vendor, read_timeout=0.5),
                "backup": json_gateway(backup),
            },
            routing={"strategy": "priority"},
            **QUICK_RECOVERY,
        )
        asyncio.run(vendor.misbehave("66.66 AED", "timeout", operation="initiate"))
        with payments_serve(tmp_path, config=config) as server:
            payment_id = str(uuid.uuid4())
            answer = httpx.post(
                f"{server.base_url}/init-payment",
                json={"id": payment_id, "currency": "AED", "amount_fractions": 6666},
                timeout=30,
            )
            assert answer.status_code == 202, answer.text
            assert answer.json()["status"] == "unknown"
            wait_for(lambda: payment_status(server, payment_id) == "initiated", "reconciled")
        assert vendor_calls(backup)["initiate"] == 0
        assert vendor_calls(vendor)["initiate"] == 1
        assert vendor_calls(vendor)["status"] >= 1


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path, database_url: str) -> None:
    from .conftest import json_vendor

    with json_vendor(timeout_seconds=1.5) as slow_vendor:
        asyncio.run(slow_vendor.misbehave("55.55 AED", "timeout", operation="initiate"))
        config = config_for(
            tmp_path, database_url, {"json": json_gateway(slow_vendor, deadline_seconds=10)}
        )
        with payments_serve(tmp_path, config=config) as server:
            payment_id = str(uuid.uuid4())
            pending = in_background(
                f"{server.base_url}/init-payment",
                {"id": payment_id, "currency": "AED", "amount_fractions": 5555},
            )
            wait_for(lambda: payment_id in vendor_state(slow_vendor), "the vendor has it")
            server.process.send_signal(signal.SIGTERM)
            answer = pending.result()
            assert answer.status_code == 201, answer.text
            # uvicorn re-raises the signal once it has shut down cleanly.
            assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
            log = server.output()
            assert "Application shutdown complete" in log
            assert "worker" in log
            assert "stopped" in log


def _ours_says(server: ServerProcess, payment_id: str, status: str) -> bool:
    return payment_status(server, payment_id) == status


def test_a_cancel_racing_the_payer_s_pay_over_two_processes_has_one_winner_and_books_agree(
    tmp_path: Path, database_url: str
) -> None:
    """The payer presses Pay on the vendor's page (the vendor notifies the first process) while
    the client sends cancels to both: the vendor decides which came first, the platform ends
    where the vendor's books say, the vendor is asked to cancel at most once, and every client
    answer names the winner (the cancelled payment, or a 409 saying it is paid)."""
    port = free_port()
    hook = f"http://127.0.0.1:{port}/external/json-webhook"
    with json_vendor(webhook_url=hook) as vendor:
        config = config_for(tmp_path, database_url, {"json": json_gateway(vendor)})
        with (
            payments_serve(tmp_path, config=config, port=port) as first,
            payments_serve(tmp_path, config=config) as second,
        ):
            outcomes = set()
            for _ in range(6):
                before = vendor_calls(vendor).get("cancel", 0)
                payment_id = str(uuid.uuid4())
                created = httpx.post(
                    f"{first.base_url}/init-payment",
                    json={"id": payment_id, "currency": "AED", "amount_fractions": 2500},
                ).json()
                page = created["next_action"]["url"]
                with ThreadPoolExecutor(max_workers=1) as payer:
                    pressed = payer.submit(
                        httpx.post, page, data={"action": "pay", "step": "checkout"}, timeout=30
                    )
                    cancels = post_concurrently(
                        [
                            (f"{server.base_url}/payments/{payment_id}/cancel", {})
                            for server in [first, second] * 5
                        ]
                    )
                    pay_answer = pressed.result()
                held = vendor_state(vendor)[payment_id]["status"]
                assert held in ("paid", "cancelled"), held
                settled = functools.partial(_ours_says, first, payment_id, held)
                wait_for(settled, f"ours says {held}")
                assert vendor_calls(vendor).get("cancel", 0) - before <= 1
                codes = Counter(answer.status_code for answer in cancels)
                if held == "cancelled":
                    assert pay_answer.status_code == 409, pay_answer.text
                    assert set(codes) <= {200, 202}, [a.text for a in cancels][:3]
                else:
                    assert pay_answer.status_code == 303, pay_answer.text
                    assert set(codes) <= {202, 409}, [a.text for a in cancels][:3]
                    refused = [a.json() for a in cancels if a.status_code == 409]
                    assert {r["payment_status"] for r in refused} <= {"paid", "cancelling"}
                outcomes.add(held)
            # Not asserted: which one wins is the machine's to say; both are right.
            assert outcomes


def authorized_payment(server: ServerProcess, vendor: Vendor, amount: int) -> str:
    """A payment taken with manual capture, which its payer authorized."""
    payment_id = str(uuid.uuid4())
    created = httpx.post(
        f"{server.base_url}/init-payment",
        json={"id": payment_id, "currency": "AED", "amount_fractions": amount, "capture": "manual"},
    )
    assert created.status_code == 201, created.text
    external_id = created.json()["external_id"]
    httpx.post(
        f"{vendor.base_url}/_simulator/payments/{external_id}/status",
        json={"status": "authorized"},
    ).raise_for_status()
    authorized = httpx.post(
        f"{server.base_url}/external/json-webhook",
        json={"external_id": external_id, "status": "authorized"},
    )
    assert authorized.status_code == 200, authorized.text
    return payment_id


def capture_url(server: ServerProcess, payment_id: str) -> str:
    return f"{server.base_url}/payments/{payment_id}/capture"


def aed(minor: int) -> str:
    """An amount as the vendor's books write it."""
    return f"{minor // 100}.{minor % 100:02d} AED"


def test_racing_partial_captures_over_two_processes_never_capture_more_than_authorized(
    two_servers: tuple[ServerProcess, ServerProcess], vendor: Vendor
) -> None:
    """50 captures of 1.00 AED at once over two processes, of an authorization of 25.00 AED:
    25 are made, 25 refused, and the vendor holds just the captures we do."""
    first, second = two_servers
    payment_id = authorized_payment(first, vendor, 2500)
    requests = [
        (
            capture_url(server, payment_id),
            {"amount_fractions": 100, "capture_id": str(uuid.uuid4())},
        )
        for server in [first, second] * 25
    ]
    answers = post_concurrently(requests)
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 25, 409: 25}, statuses
    refused = {answer.json()["code"] for answer in answers if answer.status_code == 409}
    assert refused <= {"capture-exceeds-authorization", "payment-not-capturable"}
    made = [answer.json()["capture"] for answer in answers if answer.status_code == 200]
    assert {c["status"] for c in made} == {"succeeded"}
    assert vendor_calls(vendor)["capture"] == 25

    detail = httpx.get(f"{second.base_url}/payments/{payment_id}").json()
    assert (detail["payment"]["status"], detail["payment"]["captured_fractions"]) == ("paid", 2500)
    ours = sorted(
        (c["id"], c["external_capture_id"], c["amount_fractions"], c["status"])
        for c in detail["captures"]
    )
    assert ours == sorted((c["id"], c["external_capture_id"], 100, "succeeded") for c in made)
    held = vendor_state(vendor)[payment_id]
    assert (held["status"], held["authorized"], held["captured"]) == (
        "paid",
        "25.00 AED",
        "25.00 AED",
    )
    theirs = sorted((c["reference"], c["id"], c["amount"]) for c in held["captures"])
    assert theirs == [(capture_id, external_id, "1.00 AED") for capture_id, external_id, *_ in ours]


@pytest.mark.parametrize("amount", [None, 1000], ids=["whole", "part"])
def test_50_captures_with_one_capture_id_over_two_processes_are_one_capture(
    two_servers: tuple[ServerProcess, ServerProcess], vendor: Vendor, amount: int | None
) -> None:
    first, second = two_servers
    payment_id = authorized_payment(first, vendor, 5000)
    capture_id = str(uuid.uuid4())
    body: dict[str, Any] = {"capture_id": capture_id}
    if amount is not None:
        body["amount_fractions"] = amount
    answers = post_concurrently(
        [(capture_url(server, payment_id), body) for server in [first, second] * 25]
    )
    # Each repeat answers with the one capture, as it stands: sent and answered, or in flight.
    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {200, 202}, [a.text for a in answers if a.status_code >= 300][:3]
    assert {a.json()["capture"]["id"] for a in answers} == {capture_id}
    assert vendor_calls(vendor)["capture"] == 1
    captured = amount or 5000
    detail = httpx.get(f"{second.base_url}/payments/{payment_id}").json()
    assert [(c["id"], c["amount_fractions"], c["status"]) for c in detail["captures"]] == [
        (capture_id, captured, "succeeded")
    ]
    assert (detail["payment"]["status"], detail["payment"]["captured_fractions"]) == (
        "partially_captured" if amount else "paid",
        captured,
    )
    [held] = vendor_state(vendor)[payment_id]["captures"]
    assert (held["reference"], held["id"], held["amount"]) == (
        capture_id,
        detail["captures"][0]["external_capture_id"],
        aed(captured),
    )

    # The same capture id for another amount is another request: refused, by either process.
    for server in (first, second):
        reused = httpx.post(
            capture_url(server, payment_id), json={"capture_id": capture_id, "amount_fractions": 1}
        )
        assert reused.status_code == 409, reused.text
        assert reused.json()["code"] == "capture-id-reused"
    assert vendor_calls(vendor)["capture"] == 1


def test_a_capture_racing_a_void_has_one_winner_and_the_vendor_agrees(
    two_servers: tuple[ServerProcess, ServerProcess], vendor: Vendor
) -> None:
    first, second = two_servers
    for _ in range(5):
        payment_id = authorized_payment(first, vendor, 1000)
        capture: tuple[str, dict[str, Any]] = (
            f"{first.base_url}/payments/{payment_id}/capture",
            {"amount_fractions": 300},
        )
        void: tuple[str, dict[str, Any]] = (f"{second.base_url}/payments/{payment_id}/cancel", {})
        captured, voided = post_concurrently([capture, void])
        winners = [a for a in (captured, voided) if a.status_code == 200]
        assert len(winners) == 1, (captured.text, voided.text)
        detail = httpx.get(f"{first.base_url}/payments/{payment_id}").json()["payment"]
        held = vendor_state(vendor)[payment_id]
        if captured.status_code == 200:
            assert voided.json()["code"] == "payment-not-cancellable"
            assert (detail["status"], detail["captured_fractions"]) == ("partially_captured", 300)
            assert (held["status"], held["captured"]) == ("authorized", "3.00 AED")
        else:
            assert captured.json()["code"] == "payment-not-capturable"
            assert (detail["status"], detail["captured_fractions"]) == ("voided", 0)
            assert (held["status"], held["captures"]) == ("voided", [])


def test_a_server_killed_after_the_vendor_accepted_a_capture_reconciles_it_after_restart(
    tmp_path: Path, database_url: str, vendor: Vendor
) -> None:
    config = config_for(tmp_path, database_url, {"json": json_gateway(vendor)}, **QUICK_RECOVERY)
    asyncio.run(vendor.misbehave("33.33 AED", "timeout", operation="capture"))
    capture_id = str(uuid.uuid4())
    with payments_serve(tmp_path, config=config, env=NO_WORKER) as doomed:
        payment_id = authorized_payment(doomed, vendor, 9999)
        pending = in_background(
            capture_url(doomed, payment_id), {"amount_fractions": 3333, "capture_id": capture_id}
        )
        wait_for(lambda: bool(vendor_state(vendor)[payment_id]["captures"]), "the vendor captured")
        _kill(doomed)
        with pytest.raises(httpx.TransportError):
            pending.result()

    with payments_serve(tmp_path, config=config) as revived:
        wait_for(lambda: payment_status(revived, payment_id) == "partially_captured", "reconciled")
        detail = httpx.get(f"{revived.base_url}/payments/{payment_id}").json()
        assert detail["payment"]["captured_fractions"] == 3333
        [capture] = detail["captures"]
        [held] = vendor_state(vendor)[payment_id]["captures"]
        assert (capture["id"], capture["amount_fractions"], capture["status"]) == (
            capture_id,
            3333,
            "succeeded",
        )
        assert (held["reference"], held["amount"]) == (capture_id, "33.33 AED")
        assert capture["external_capture_id"] == held["id"]
        assert vendor_calls(vendor)["capture"] == 1
        # What the reconciled capture took is taken once: the rest, and no more, is left.
        rest = httpx.post(capture_url(revived, payment_id), json={})
        assert rest.status_code == 200, rest.text
        assert (rest.json()["payment"]["status"], rest.json()["capture"]["amount_fractions"]) == (
            "paid",
            6666,
        )
    held_payment = vendor_state(vendor)[payment_id]
    assert (held_payment["status"], held_payment["captured"]) == ("paid", "99.99 AED")
    assert vendor_calls(vendor)["capture"] == 2


def test_a_server_killed_after_the_vendor_voided_reconciles_the_void_after_restart(
    tmp_path: Path, database_url: str, vendor: Vendor
) -> None:
    config = config_for(tmp_path, database_url, {"json": json_gateway(vendor)}, **QUICK_RECOVERY)
    # A void's amount is its payment's.
    asyncio.run(vendor.misbehave("44.44 AED", "timeout", operation="void"))
    with payments_serve(tmp_path, config=config, env=NO_WORKER) as doomed:
        payment_id = authorized_payment(doomed, vendor, 4444)
        pending = in_background(f"{doomed.base_url}/payments/{payment_id}/cancel", {})
        wait_for(
            lambda: vendor_state(vendor)[payment_id]["status"] == "voided", "the vendor voided"
        )
        _kill(doomed)
        with pytest.raises(httpx.TransportError):
            pending.result()

    with payments_serve(tmp_path, config=config) as revived:
        wait_for(lambda: payment_status(revived, payment_id) == "voided", "reconciled")
        refused = httpx.post(capture_url(revived, payment_id), json={})
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "payment-not-capturable"
        again = httpx.post(f"{revived.base_url}/payments/{payment_id}/cancel", json={})
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "voided"
    assert vendor_calls(vendor)["void"] == 1
    assert vendor_calls(vendor).get("capture", 0) == 0
