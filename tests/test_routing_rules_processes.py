"""Routing rules in a real ``payments serve``, on SQLite and PostgreSQL: a rule sends large EUR
payments to its gateway first, and a split sends a tenth of the others to a new gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from binomial import binomial_bounds
from core_fixtures import OPEN

from .server_process import payments_serve, write_config

SPLIT_PAYMENTS = 200


def in_memory_gateway() -> dict[str, Any]:
    return {"type": "testgw", "settings": {"token": "webhook-token"}}


async def _init_all(base_url: str, amounts: list[int]) -> list[dict[str, Any]]:
    """Start a EUR payment of each amount, a few at a time; each answer's body."""
    at_once = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def init(amount: int) -> dict[str, Any]:
            body = {"id": str(uuid.uuid4()), "currency": "EUR", "amount_fractions": amount}
            async with at_once:
                response = await client.post("/init-payment", json=body)
            assert response.status_code == 201, response.text
            answer: dict[str, Any] = response.json()
            return answer

        return await asyncio.gather(*(init(amount) for amount in amounts))


def test_a_rule_and_a_split_decide_where_real_payments_go_first(
    tmp_path: Path, database_url: str
) -> None:
    # By priority alone every EUR payment would go to eu-main, the first in config order.
    gateways = {
        "eu-main": in_memory_gateway(),
        "eu-big": in_memory_gateway(),
        "eu-new": in_memory_gateway(),
    }
    rules = [
        {
            "name": "eur-large",
            "match": {"currencies": ["EUR"], "amount_min": 100_000},
            "gateways": ["eu-big"],
        },
        {
            "name": "eur-ramp-up",
            "match": {"currencies": ["EUR"]},
            "split": {"eu-new": 10, "eu-main": 90},
        },
    ]
    config = write_config(
        tmp_path / "payments.toml",
        {
            # Migrated by the server as it starts: one process start less than `payments migrate`.
            "database": {"url": database_url, "migrate_on_start": True},
            "security": OPEN,
            "gateways": gateways,
            "routing": {"strategy": "priority", "rules": rules},
        },
    )
    with payments_serve(tmp_path, config=config) as server:
        (large,) = asyncio.run(_init_all(server.base_url, [120_000]))
        detail = httpx.get(f"{server.base_url}/payments/{large['id']}").json()
        assert detail["payment"]["gateway"] == "eu-big"
        assert [(a["gateway"], a["outcome"], a["reason"]) for a in detail["attempts"]] == [
            ("eu-big", "accepted", "rule eur-large: its gateway 1 of 1, breaker closed")
        ]
        (decision,) = [e for e in detail["events"] if e["kind"] == "routing_decision"]
        assert decision["detail"]["rule"] == "eur-large"
        assert [view["gateway"] for view in decision["detail"]["order"]] == [
            "eu-big",
            "eu-main",
            "eu-new",
        ]

        # Just below the rule's amount_min (inclusive): the split's rule.
        split = asyncio.run(_init_all(server.base_url, [99_999] * SPLIT_PAYMENTS))
        first = Counter(payment["gateway"] for payment in split)
        low, high = binomial_bounds(SPLIT_PAYMENTS, 0.10)  # a correct split: 1 run in 10^6 fails
        assert low <= first["eu-new"] <= high, (first, low, high)
        assert first["eu-new"] + first["eu-main"] == SPLIT_PAYMENTS
        sample = httpx.get(f"{server.base_url}/payments/{split[0]['id']}").json()
        (attempt,) = sample["attempts"]
        assert attempt["reason"].startswith("rule eur-ramp-up: drawn by its split (")
