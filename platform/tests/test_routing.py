"""Candidate selection: weighted shares follow weight x health; priority keeps config order."""

import random
from collections import Counter

import pytest
from payments_platform.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from payments_platform.routing import Route, RoutingTable, Strategy

POLICY = BreakerPolicy(minimum_calls=20, failure_rate_threshold=0.5, open_seconds=30)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_table(
    weights: dict[str, float],
    strategy: Strategy = Strategy.WEIGHTED,
    currencies: dict[str, set[str]] | None = None,
    seed: int = 7,
) -> tuple[RoutingTable, FakeClock]:
    clock = FakeClock()
    routes = [
        Route(
            name=name,
            currencies=frozenset((currencies or {}).get(name, {"AED"})),
            weight=weight,
            breaker=CircuitBreaker(POLICY, clock),
        )
        for name, weight in weights.items()
    ]
    return RoutingTable(routes, strategy, random.Random(seed)), clock


def first_choices(table: RoutingTable, rounds: int) -> Counter[str]:
    return Counter(table.decide("AED").order[0].gateway for _ in range(rounds))


def test_weighted_shares_converge_to_the_weights() -> None:
    table, _ = make_table({"a": 3, "b": 1})
    counts = first_choices(table, 20_000)
    assert counts["a"] / 20_000 == pytest.approx(0.75, abs=0.02)


def test_an_unhealthy_gateways_share_falls_before_its_breaker_trips() -> None:
    table, _ = make_table({"a": 1, "b": 1})
    breaker_a = table.breaker("a")
    for _ in range(10):  # 10 failures of 19 calls: under the 20-call minimum, still closed
        breaker_a.record_failure()
    for _ in range(9):
        breaker_a.record_success()
    assert breaker_a.state is BreakerState.CLOSED
    counts = first_choices(table, 20_000)
    share_a = counts["a"] / 20_000
    expected = (10 / 20) / (10 / 20 + 1)  # health (9 + 1) / (19 + 1) against 1.0
    assert share_a == pytest.approx(expected, abs=0.02)
    assert share_a < 0.4


def test_the_whole_order_is_a_weighted_permutation() -> None:
    table, _ = make_table({"a": 1, "b": 1, "c": 1})
    decision = table.decide("AED")
    assert sorted(view.gateway for view in decision.order) == ["a", "b", "c"]
    assert sum(view.share for view in decision.order) == pytest.approx(1.0)


def test_same_seed_same_choices() -> None:
    first, _ = make_table({"a": 1, "b": 2}, seed=42)
    second, _ = make_table({"a": 1, "b": 2}, seed=42)
    assert [first.decide("AED").order[0].gateway for _ in range(50)] == [
        second.decide("AED").order[0].gateway for _ in range(50)
    ]


def test_only_gateways_supporting_the_currency_are_candidates() -> None:
    table, _ = make_table(
        {"aed": 1, "usd": 1, "both": 1},
        currencies={"aed": {"AED"}, "usd": {"USD"}, "both": {"AED", "USD"}},
    )
    assert {view.gateway for view in table.decide("USD").order} == {"usd", "both"}
    assert table.supports("USD")
    assert not table.supports("EUR")
    assert table.decide("EUR").order == ()


def test_priority_keeps_config_order() -> None:
    table, _ = make_table({"first": 1, "second": 100}, Strategy.PRIORITY)
    for _ in range(20):
        assert [view.gateway for view in table.decide("AED").order] == ["first", "second"]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_an_open_breaker_takes_the_gateway_out_until_its_cool_down_passes(
    strategy: Strategy,
) -> None:
    # A weight far above the other's would put "a" first in almost every weighted draw.
    table, clock = make_table({"a": 1000, "b": 1}, strategy)
    breaker_a = table.breaker("a")
    for _ in range(POLICY.minimum_calls):
        breaker_a.record_failure()
    for _ in range(50):
        decision = table.decide("AED")
        assert [view.gateway for view in decision.order] == ["b"]
        assert [view.gateway for view in decision.skipped] == ["a"]
        assert decision.skipped[0].breaker is BreakerState.OPEN
    clock.now += POLICY.open_seconds
    decision = table.decide("AED")
    assert sorted(view.gateway for view in decision.order) == ["a", "b"]
    assert decision.skipped == ()
    assert {view.gateway: view.breaker for view in decision.order}["a"] is BreakerState.HALF_OPEN


def test_reason_names_the_choice_and_the_failover() -> None:
    table, _ = make_table({"a": 1, "b": 1}, Strategy.PRIORITY)
    decision = table.decide("AED")
    assert decision.reason(0, []) == "priority 1 in config order, breaker closed"
    assert decision.reason(1, ["a unavailable"]) == (
        "priority 2 in config order, breaker closed; failover after a unavailable"
    )
    weighted, _ = make_table({"a": 3, "b": 1})
    reason = weighted.decide("AED").reason(0, [])
    assert reason.startswith("weighted choice (share ")
    assert "x health 1.00" in reason
