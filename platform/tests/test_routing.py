"""Candidate selection: adaptive follows the learned score, explores only where the best may be
hiding, tries the eliminated last; weighted shares follow weight x health; priority keeps
config order."""

import random
from collections import Counter

import pytest
from payments_platform.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from payments_platform.routing import PaymentFacts, Route, RoutingTable, Strategy
from payments_platform.scoring import ScoreBoard, ScorePolicy, Segment, Tally

POLICY = BreakerPolicy(minimum_calls=20, failure_rate_threshold=0.5, open_seconds=30)


def facts(currency: str, amount_minor: int = 1000) -> PaymentFacts:
    return PaymentFacts(currency=currency, amount_minor=amount_minor)


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
    scores: ScorePolicy | None = None,
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
    board = ScoreBoard(scores or ScorePolicy())
    return RoutingTable(routes, strategy, random.Random(seed), board), clock


def first_choices(table: RoutingTable, rounds: int) -> Counter[str]:
    return Counter(table.decide(facts("AED")).order[0].gateway for _ in range(rounds))


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
    decision = table.decide(facts("AED"))
    assert sorted(view.gateway for view in decision.order) == ["a", "b", "c"]
    assert sum(view.share for view in decision.order) == pytest.approx(1.0)


def test_same_seed_same_choices() -> None:
    first, _ = make_table({"a": 1, "b": 2}, seed=42)
    second, _ = make_table({"a": 1, "b": 2}, seed=42)
    assert [first.decide(facts("AED")).order[0].gateway for _ in range(50)] == [
        second.decide(facts("AED")).order[0].gateway for _ in range(50)
    ]


def test_only_gateways_supporting_the_currency_are_candidates() -> None:
    table, _ = make_table(
        {"aed": 1, "usd": 1, "both": 1},
        currencies={"aed": {"AED"}, "usd": {"USD"}, "both": {"AED", "USD"}},
    )
    assert {view.gateway for view in table.decide(facts("USD")).order} == {"usd", "both"}
    assert table.supports("USD")
    assert not table.supports("EUR")
    assert table.decide(facts("EUR")).order == ()


def test_priority_keeps_config_order() -> None:
    table, _ = make_table({"first": 1, "second": 100}, Strategy.PRIORITY)
    for _ in range(20):
        assert [view.gateway for view in table.decide(facts("AED")).order] == ["first", "second"]


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
        decision = table.decide(facts("AED"))
        assert [view.gateway for view in decision.order] == ["b"]
        assert [view.gateway for view in decision.skipped] == ["a"]
        assert decision.skipped[0].breaker is BreakerState.OPEN
    clock.now += POLICY.open_seconds
    decision = table.decide(facts("AED"))
    assert sorted(view.gateway for view in decision.order) == ["a", "b"]
    assert decision.skipped == ()
    assert {view.gateway: view.breaker for view in decision.order}["a"] is BreakerState.HALF_OPEN


def test_reason_names_the_choice_and_the_failover() -> None:
    table, _ = make_table({"a": 1, "b": 1}, Strategy.PRIORITY)
    decision = table.decide(facts("AED"))
    assert decision.reason(0, []) == "priority 1 in config order, breaker closed"
    assert decision.reason(1, ["a unavailable"]) == (
        "priority 2 in config order, breaker closed; failover after a unavailable"
    )
    weighted, _ = make_table({"a": 3, "b": 1})
    reason = weighted.decide(facts("AED")).reason(0, [])
    assert reason.startswith("weighted choice (share ")
    assert "x health 1.00" in reason


AED = Segment("AED", 0)
NO_EXPLORING = ScorePolicy(exploration=0.0, prior_strength=0)


def learned(table: RoutingTable, rates: dict[str, tuple[int, int]], at: float = 1.0) -> None:
    """Teach the table's board: ``{gateway: (accepted, declined)}`` in AED."""
    table.scores.add(
        [Tally(name, AED, accepted, declined, 0) for name, (accepted, declined) in rates.items()],
        at=at,
    )


def test_adaptive_puts_the_gateway_most_likely_to_take_the_payment_first() -> None:
    table, _ = make_table({"a": 10, "b": 1, "c": 1}, Strategy.ADAPTIVE, scores=NO_EXPLORING)
    learned(table, {"a": (60, 40), "b": (95, 5), "c": (80, 20)})
    for _ in range(50):
        decision = table.decide(facts("AED"))
        # The weight does not outrank what was learned: only ties are shared by weight.
        assert [view.gateway for view in decision.order] == ["b", "c", "a"]
    first = decision.order[0]
    assert (first.score, first.samples, first.scored_in, first.share) == (0.95, 100, "AED", 1.0)
    assert decision.segment == "AED"
    assert decision.reason(0, []).startswith("adaptive rank 1 (share 1.00; success 0.95 over 100")


def test_adaptive_leaders_within_the_tolerance_share_the_first_place_by_weight() -> None:
    table, _ = make_table({"a": 3, "b": 1}, Strategy.ADAPTIVE, scores=NO_EXPLORING)
    learned(table, {"a": (950, 50), "b": (955, 45)})
    counts = first_choices(table, 20_000)
    assert counts["a"] / 20_000 == pytest.approx(0.75, abs=0.02)


def test_adaptive_explores_only_a_gateway_that_may_yet_be_the_best() -> None:
    policy = ScorePolicy(exploration=0.1, prior_strength=0, min_segment_samples=20)
    table, _ = make_table({"good": 1, "bad": 1, "new": 1}, Strategy.ADAPTIVE, scores=policy)
    # "bad" is known to be far worse; "new" has too few attempts to say.
    learned(table, {"good": (950, 50), "bad": (500, 500), "new": (3, 2)})
    counts = first_choices(table, 20_000)
    assert counts["bad"] == 0
    assert counts["new"] / 20_000 == pytest.approx(0.1, abs=0.015)
    decision = table.decide(facts("AED"))
    shares = {view.gateway: view.share for view in decision.order}
    assert shares == pytest.approx({"good": 0.9, "new": 0.1, "bad": 0.0})


def test_adaptive_tries_a_gateway_whose_calls_mostly_fail_last() -> None:
    policy = ScorePolicy(exploration=0.0, elimination_failures=5, elimination_rate=0.5)
    table, _ = make_table({"flaky": 1, "steady": 1}, Strategy.ADAPTIVE, scores=policy)
    table.scores.add(
        [
            Tally("flaky", AED, accepted=90, declined=0, failed=10),
            Tally("steady", AED, accepted=80, declined=20, failed=0),
        ],
        at=1.0,
    )
    assert table.decide(facts("AED")).order[0].gateway == "flaky"  # 10 of 100 failed: kept
    table.scores.add([Tally("flaky", AED, accepted=0, declined=0, failed=150)], at=2.0)
    decision = table.decide(facts("AED"))
    assert [view.gateway for view in decision.order] == ["steady", "flaky"]
    assert decision.order[1].eliminated
    assert decision.reason(1, []).startswith("tried last: its recent calls mostly failed")


def test_adaptive_without_anything_learned_shares_by_weight() -> None:
    table, _ = make_table({"a": 1, "b": 3}, Strategy.ADAPTIVE, scores=NO_EXPLORING)
    counts = first_choices(table, 20_000)
    assert counts["b"] / 20_000 == pytest.approx(0.75, abs=0.02)
    assert table.decide(facts("AED")).order[0].score is None
