"""Soft declines against the real ``payments serve``, on SQLite and PostgreSQL: a payment one
vendor declines softly is paid at the next, whichever built-in gateway declines it; a hard
decline, a spent budget and an unknown outcome are never passed on.

Each gateway's vendor is its simulator, served by the server itself (the client API is open),
and told how to answer through its control endpoints; their call counters say which vendors
were asked.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from core_fixtures import OPEN

from .server_process import ServerProcess, migrate, payments_serve, write_config

AED_77 = {"currency": "AED", "amount_fractions": 7700}
AMOUNT = "77.00 AED"


def serve(
    tmp_path: Path, database_url: str, gateways: dict[str, Any], **routing: Any
) -> contextlib.AbstractContextManager[ServerProcess]:
    """``payments serve`` with ``gateways`` in priority order, each against its simulator in
    the server; ``routing`` adds to the routing section."""
    config = {
        "database": {"url": database_url},
        "security": OPEN,
        "routing": {"strategy": "priority", **routing},
        "payments": {"reconcile_after_seconds": 3.0},
        "gateways": gateways,
    }
    path = write_config(tmp_path / f"payments-{uuid.uuid4().hex[:6]}.toml", config)
    migrate(path)
    return payments_serve(tmp_path, config=path)


def simulated(gateway_type: str, **settings: Any) -> dict[str, Any]:
    """A gateway of ``gateway_type`` against its simulator in the server; a short deadline, so
    that a call left unanswered is judged over soon."""
    return {
        "type": gateway_type,
        "deadline_seconds": 1.0,
        "settings": settings,
        "simulator": {"payer_pays_at_once": False},
    }


def control(server: ServerProcess, gateway: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method, f"{server.base_url}/simulators/{gateway}/_simulator/{path}", json=body, timeout=10
    )
    response.raise_for_status()
    return response.json()


def misbehave(server: ServerProcess, gateway: str, action: str) -> None:
    control(
        server,
        gateway,
        "POST",
        "behaviours",
        {"amount": AMOUNT, "operation": "initiate", "action": action},
    )


def initiated(server: ServerProcess, gateway: str) -> int:
    """How many initiates the gateway's vendor received."""
    calls: int = control(server, gateway, "GET", "calls")["initiate"]
    return calls


def held(server: ServerProcess, gateway: str, payment_id: str) -> dict[str, Any] | None:
    """The vendor's payment of ours, if it holds one."""
    payments = control(server, gateway, "GET", "payments")["payments"]
    return next((p for p in payments if p["reference"] == payment_id), None)


def init(server: ServerProcess, payment_id: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/init-payment", json={"id": payment_id, **AED_77}, timeout=30
    )


def detail(server: ServerProcess, payment_id: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{server.base_url}/payments/{payment_id}").json()
    return found


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


@pytest.fixture
def new_id() -> str:
    return str(uuid.uuid4())


@pytest.mark.parametrize(("first", "second"), [("json", "soap"), ("soap", "json")])
def test_a_soft_decline_at_the_first_gateway_is_retried_at_the_second_and_paid_there(
    tmp_path: Path, database_url: str, new_id: str, first: str, second: str
) -> None:
    """Either built-in gateway's soft decline passes the payment on. Fails if a plugin maps
    its vendor's soft decline as a hard one, if the platform ends a soft decline as it ends a
    hard one, or if the payment is not the second vendor's to pay."""
    gateways = {"first": simulated(first), "second": simulated(second)}
    with serve(tmp_path, database_url, gateways) as server:
        misbehave(server, "first", "soft_decline")

        answer = init(server, new_id)

        assert answer.status_code == 201, answer.text
        payment = answer.json()
        assert (payment["status"], payment["gateway"]) == ("initiated", "second")
        assert held(server, "first", new_id) is None  # the first vendor holds nothing
        control(
            server,
            "second",
            "POST",
            f"payments/{payment['external_id']}/status",
            {"status": "paid"},
        )
        found = detail(server, new_id)
        assert found["payment"]["status"] == "paid"
        declined, paid = found["attempts"]
        assert (declined["gateway"], declined["outcome"]) == ("first", "declined")
        assert declined["error"].startswith("soft decline: ")
        assert (paid["gateway"], paid["outcome"]) == ("second", "accepted")
        assert paid["reason"] == (
            "priority 2 in config order, breaker closed; failover after a soft decline at first"
        )
        metrics = httpx.get(f"{server.base_url}/metrics").text
        assert 'payments_soft_declines_total{gateway="first",result="retried"} 1.0' in metrics


def test_a_hard_decline_is_not_retried(tmp_path: Path, database_url: str, new_id: str) -> None:
    """Fails if a hard decline (the simulator's ``decline``) reaches another vendor."""
    gateways = {"first": simulated("json"), "second": simulated("soap")}
    with serve(tmp_path, database_url, gateways) as server:
        misbehave(server, "first", "decline")

        answer = init(server, new_id)

        assert answer.status_code == 402, answer.text
        assert answer.json()["code"] == "payment-declined"
        assert answer.json()["payment"]["failure_code"] == "payment_declined"
        assert (initiated(server, "first"), initiated(server, "second")) == (1, 0)
        [attempt] = detail(server, new_id)["attempts"]
        assert attempt["error"].startswith("hard decline: ")


def test_the_configured_budget_bounds_the_gateways_a_payment_is_offered_to(
    tmp_path: Path, database_url: str, new_id: str
) -> None:
    """Three vendors that all decline softly, ``routing.soft_decline_attempts = 1``: the
    payment is offered to one more gateway, then declined. Fails if the config key does not
    reach the failover loop (the default of 2 would ask the third)."""
    gateways = {name: simulated("json") for name in ("first", "second", "third")}
    with serve(tmp_path, database_url, gateways, soft_decline_attempts=1) as server:
        for name in gateways:
            misbehave(server, name, "soft_decline")

        answer = init(server, new_id)

        assert answer.status_code == 402, answer.text
        assert answer.json()["payment"]["failure_code"] == "issuer_unavailable"
        assert answer.json()["payment"]["gateway"] == "second"
        assert [initiated(server, name) for name in gateways] == [1, 1, 0]


def test_after_a_soft_decline_a_timeout_stays_unknown_and_is_reconciled_never_passed_on(
    tmp_path: Path, database_url: str, new_id: str
) -> None:
    """The first vendor declines softly, the second takes the payment and never answers, the
    third would take it. Fails if the budget left after the soft decline lets an ambiguous
    outcome go on to the third vendor (the payer could be charged twice), or if the payment is
    not reconciled with the second."""
    gateways = {
        "first": simulated("json"),
        "second": simulated("json", read_timeout=0.5),
        "third": simulated("soap"),
    }
    with serve(tmp_path, database_url, gateways) as server:
        misbehave(server, "first", "soft_decline")
        misbehave(server, "second", "timeout")

        answer = init(server, new_id)

        assert answer.status_code == 202, answer.text
        assert (answer.json()["status"], answer.json()["gateway"]) == ("unknown", "second")
        assert held(server, "second", new_id) is not None  # the vendor took it after all
        wait_for(lambda: detail(server, new_id)["payment"]["status"] == "initiated", "reconciled")
        assert detail(server, new_id)["payment"]["gateway"] == "second"
        assert [initiated(server, name) for name in gateways] == [1, 1, 0]
