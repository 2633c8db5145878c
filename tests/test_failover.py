"""Failover between two AED gateways, and the breaker keeping a dead vendor out of the way."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from .conftest import AppFactory, Vendor


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


BREAKER = {"minimum_calls": 3, "failure_rate_threshold": 0.5, "open_seconds": 60}


def gateways(down_url: str, vendor: Vendor) -> dict[str, Any]:
    return {
        "first": {"type": "json", "settings": {"base_url": down_url}},
        "second": {"type": "json", "settings": {"base_url": vendor.base_url}},
    }


async def init(client: Any) -> dict[str, Any]:
    payment_id = str(uuid.uuid4())
    response = await client.post(
        "/init-payment", json={"id": payment_id, "currency": "AED", "amount_fractions": 1000}
    )
    assert response.status_code == 201, response.text
    detail: dict[str, Any] = (await client.get(f"/payments/{payment_id}")).json()
    return detail


async def test_payments_fail_over_to_the_second_gateway_when_the_first_refuses_connections(
    platform: AppFactory, vendor: Vendor
) -> None:
    refused = "http://127.0.0.1:9"  # discard port: nothing listens, the connection is refused
    async with platform(gateways(refused, vendor), routing={"strategy": "priority"}) as client:
        detail = await init(client)
        assert detail["payment"]["gateway"] == "second"
        first, second = detail["attempts"]
        assert (first["gateway"], first["outcome"]) == ("first", "unavailable")
        assert (second["gateway"], second["outcome"]) == ("second", "accepted")
        assert second["reason"] == (
            "priority 2 in config order, breaker closed; failover after first unavailable"
        )


async def test_after_enough_failures_the_first_gateway_is_not_called_until_its_cool_down(
    platform: AppFactory, vendor: Vendor, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/initiate-payment").respond_with_data("busy", status=503)
    clock = Clock()
    routing = {"strategy": "priority", "breaker": BREAKER}
    async with platform(
        gateways(httpserver.url_for(""), vendor), clock=clock, routing=routing
    ) as client:
        for _ in range(3):
            assert (await init(client))["payment"]["gateway"] == "second"
        assert len(httpserver.log) == 3

        # The breaker is open: the first vendor is not even asked.
        for _ in range(5):
            detail = await init(client)
            assert [a["gateway"] for a in detail["attempts"]] == ["second"]
        assert len(httpserver.log) == 3

        clock.now += 60  # cool-down over: one trial call goes to the first vendor again
        detail = await init(client)
        assert [a["gateway"] for a in detail["attempts"]] == ["first", "second"]
        assert detail["attempts"][0]["reason"].startswith(
            "priority 1 in config order, breaker half_open"
        )
        assert len(httpserver.log) == 4

        # The trial failed: open again for another cool-down.
        await init(client)
        assert len(httpserver.log) == 4


FIRST_CHOICE = {
    "adaptive": "adaptive rank 1 (share 1.00; nothing learned yet), health 1.00, breaker closed",
    "weighted": "weighted choice (share 1.00 = weight 1 x health 1.00), breaker closed",
    "priority": "priority 1 in config order, breaker closed",
}
"""The second gateway's reason once it is the only candidate: no failover, nothing shared."""


@pytest.mark.parametrize("strategy", ["adaptive", "weighted", "priority"])
async def test_once_a_gateways_breaker_opens_the_next_payments_avoid_it(
    platform: AppFactory, vendor: Vendor, httpserver: HTTPServer, strategy: str
) -> None:
    """Guards against a breaker that opens but does not take its gateway out of routing
    (caught before only by a unit test of the routing table): once the first vendor's failures
    open its breaker, the next payments are routed to the second alone, on either strategy,
    and the first vendor is not even asked."""
    httpserver.expect_request("/initiate-payment").respond_with_data("busy", status=503)
    # Weighted, the failing gateway would come first in nearly every draw were it a candidate.
    both = gateways(httpserver.url_for(""), vendor)
    both["first"]["weight"] = 1000
    routing = {"strategy": strategy, "breaker": BREAKER}
    async with platform(both, clock=Clock(), routing=routing) as client:
        for _ in range(100):  # a weighted draw may put the second first now and then
            if len(httpserver.log) == BREAKER["minimum_calls"]:
                break
            assert (await init(client))["payment"]["gateway"] == "second"
        assert len(httpserver.log) == BREAKER["minimum_calls"]  # the breaker opens

        for _ in range(20):
            detail = await init(client)

            assert detail["payment"]["gateway"] == "second"
            assert [(a["gateway"], a["reason"]) for a in detail["attempts"]] == [
                ("second", FIRST_CHOICE[strategy])
            ]
            [decision] = [e["detail"] for e in detail["events"] if e["kind"] == "routing_decision"]
            assert [view["gateway"] for view in decision["order"]] == ["second"]
            assert [(view["gateway"], view["breaker"]) for view in decision["skipped"]] == [
                ("first", "open")
            ]
        assert len(httpserver.log) == BREAKER["minimum_calls"]


async def test_when_no_gateway_can_be_reached_the_answer_is_503_and_a_retry_routes_again(
    platform: AppFactory, vendor: Vendor
) -> None:
    refused = "http://127.0.0.1:9"
    only_refused = {"first": {"type": "json", "settings": {"base_url": refused}}}
    payment = {"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 1000}
    async with platform(only_refused) as client:
        response = await client.post("/init-payment", json=payment)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert body["code"] == "no-gateway-available"
        assert body["payment"]["status"] == "rejected"
        assert body["payment"]["failure_code"] == "no-gateway-available"
    # The vendor is reachable again (here: configured); the same id is routed again.
    async with platform(gateways(refused, vendor)) as client:
        response = await client.post("/init-payment", json=payment)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "initiated"
        assert response.json()["gateway"] == "second"
        events = (await client.get(f"/payments/{payment['id']}")).json()["events"]
        moves = [
            (e["from_status"], e["to_status"]) for e in events if e["kind"] == "status_changed"
        ]
        assert moves == [
            (None, "pending"),
            ("pending", "rejected"),
            ("rejected", "pending"),
            ("pending", "initiated"),
        ]
