"""Routing that learns, across real server processes on SQLite and PostgreSQL: what one process's
attempts teach, another routes by; a process started afterwards routes warm, from its first
payment.

Two JSON vendors take AED; the weak one declines every payment of 10.00 AED. A teaching process
sends its payments to the weak one first (priority); the learners' adaptive strategy explores
nothing here, so where their payments go is what was learned.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from core_fixtures import OPEN

from .conftest import Vendor, json_vendor
from .server_process import ServerProcess, payments_serve, write_config
from .test_races import config_for, json_gateway, wait_for

AMOUNT = 1000
SCORES = {
    "exploration": 0.0,
    "refresh_seconds": 0.2,
    "refresh_lag_seconds": 0.2,
    "prior_strength": 1.0,
}


@pytest.fixture
def weak() -> Iterator[Vendor]:
    with json_vendor() as vendor:
        asyncio.run(vendor.misbehave("10.00 AED", "decline", operation="initiate"))
        yield vendor


@pytest.fixture
def strong() -> Iterator[Vendor]:
    with json_vendor() as vendor:
        yield vendor


def pay(server: ServerProcess) -> dict[str, Any]:
    payment_id = str(uuid.uuid4())
    answer = httpx.post(
        f"{server.base_url}/init-payment",
        json={"id": payment_id, "currency": "AED", "amount_fractions": AMOUNT},
        timeout=30,
    )
    assert answer.status_code in (201, 402), answer.text
    detail: dict[str, Any] = httpx.get(f"{server.base_url}/payments/{payment_id}").json()
    return detail


def first_gateway(detail: dict[str, Any]) -> str:
    gateway: str = detail["attempts"][0]["gateway"]
    return gateway


def test_what_one_process_learns_the_others_route_by_and_a_new_one_starts_warm(
    tmp_path: Path, database_url: str, weak: Vendor, strong: Vendor
) -> None:
    gateways = {"weak": json_gateway(weak), "strong": json_gateway(strong)}
    config = config_for(
        tmp_path, database_url, gateways, routing={"strategy": "adaptive", "scores": SCORES}
    )
    # The teacher routes by priority, the weak gateway first, so that what it teaches does not
    # depend on a draw; the learner is another process on the same database.
    teaching = write_config(
        tmp_path / "teacher.toml",
        {
            "database": {"url": database_url},
            "security": OPEN,
            "gateways": gateways,
            "routing": {"strategy": "priority"},
        },
    )
    with (
        payments_serve(tmp_path, config=teaching) as teacher,
        payments_serve(tmp_path, config=config) as learner,
    ):
        taught = [first_gateway(pay(teacher)) for _ in range(12)]
        assert set(taught) == {"weak"}

        def learned() -> bool:
            detail = pay(learner)
            return (
                first_gateway(detail) == "strong" and "success" in (detail["attempts"][0]["reason"])
            )

        wait_for(learned, "the learner routes by what the teacher's payments taught")
        assert {first_gateway(pay(learner)) for _ in range(5)} == {"strong"}

    with payments_serve(tmp_path, config=config) as newcomer:
        detail = pay(newcomer)
        assert first_gateway(detail) == "strong"
        assert detail["payment"]["status"] == "initiated"
        assert "adaptive rank 1" in detail["attempts"][0]["reason"]
