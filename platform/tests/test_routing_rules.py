"""Routing rules: the first rule a payment meets puts its gateways (or one drawn from its split)
first, the strategy orders the others after them; no rule leaves everything to the strategy."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import msgspec
import pytest
from binomial import binomial_bounds
from payments_platform.breaker import BreakerPolicy, CircuitBreaker
from payments_platform.routing import PaymentFacts, Route, RoutingTable, Strategy
from payments_platform.routing_rules import (
    ConfiguredGateway,
    RoutingRule,
    RuleMatch,
    first_rule,
    rule_warnings,
)
from payments_platform.scoring import ScoreBoard, ScorePolicy, Segment, Tally
from payments_plugins import CaptureMode

POLICY = BreakerPolicy(minimum_calls=5, failure_rate_threshold=0.5, open_seconds=30)


def rule(name: str = "r", **fields: Any) -> RoutingRule:
    """A rule as the config file would give it."""
    return msgspec.convert({"name": name, **fields}, RoutingRule)


def payment(
    currency: str = "EUR",
    amount: int = 1000,
    *,
    capture: CaptureMode = CaptureMode.AUTOMATIC,
    merchant: str | None = None,
    **metadata: str,
) -> PaymentFacts:
    return PaymentFacts(
        currency=currency,
        amount_minor=amount,
        capture=capture,
        merchant=merchant,
        metadata=metadata,
    )


def table(
    rules: list[RoutingRule],
    strategy: Strategy = Strategy.PRIORITY,
    gateways: dict[str, set[str]] | None = None,
    rng: random.Random | None = None,
    scores: ScoreBoard | None = None,
) -> RoutingTable:
    """Gateways ``a``, ``b``, ``c`` (EUR), in that config order, unless ``gateways`` says."""
    routes = [
        Route(
            name=name,
            currencies=frozenset(currencies),
            weight=1.0,
            breaker=CircuitBreaker(POLICY, lambda: 0.0),
        )
        for name, currencies in (gateways or {"a": {"EUR"}, "b": {"EUR"}, "c": {"EUR"}}).items()
    ]
    return RoutingTable(routes, strategy, rng or random.Random(3), scores, rules=rules)


def order(decision_table: RoutingTable, facts: PaymentFacts | None = None) -> list[str]:
    return [view.gateway for view in decision_table.decide(facts or payment()).order]


@pytest.mark.parametrize(
    ("match", "facts", "holds"),
    [
        ({}, payment("JPY", 0, capture=CaptureMode.MANUAL, merchant="m", k="v"), True),
        ({"currencies": ["EUR", "USD"]}, payment("USD"), True),
        ({"currencies": ["EUR", "USD"]}, payment("AED"), False),
        ({"amount_min": 1000}, payment(amount=1000), True),  # inclusive
        ({"amount_min": 1000}, payment(amount=999), False),
        ({"amount_max": 1000}, payment(amount=999), True),
        ({"amount_max": 1000}, payment(amount=1000), False),  # exclusive
        ({"capture": "manual"}, payment(capture=CaptureMode.MANUAL), True),
        ({"capture": "manual"}, payment(), False),
        ({"merchants": ["shop"]}, payment(merchant="shop"), True),
        ({"merchants": ["shop"]}, payment(merchant="other"), False),
        ({"merchants": ["shop"]}, payment(), False),  # the client API open: no merchant
        ({"metadata": {"network": "visa"}}, payment(network="visa"), True),
        ({"metadata": {"network": "visa"}}, payment(network="amex"), False),
        ({"metadata": {"network": "visa"}}, payment(), False),
        ({"metadata": {"network": ["visa", "mc"]}}, payment(network="mc"), True),
        (
            {"currencies": ["EUR"], "amount_min": 100_000, "metadata": {"tier": "gold"}},
            payment(amount=120_000, tier="gold"),
            True,
        ),
        (  # every condition given must hold
            {"currencies": ["EUR"], "amount_min": 100_000, "metadata": {"tier": "gold"}},
            payment(amount=120_000, tier="silver"),
            False,
        ),
    ],
)
def test_a_match_holds_when_every_condition_it_gives_holds(
    match: dict[str, Any], facts: PaymentFacts, holds: bool
) -> None:
    assert msgspec.convert(match, RuleMatch).holds_for(facts) is holds


def test_the_first_rule_the_payment_meets_wins() -> None:
    rules = [
        rule("large", match={"amount_min": 100_000}, gateways=["c"]),
        rule("eur", match={"currencies": ["EUR"]}, gateways=["b"]),
    ]
    assert first_rule(rules, payment(amount=100_000)) is rules[0]
    assert first_rule(rules, payment(amount=5)) is rules[1]
    assert first_rule(rules, payment("USD", 5)) is None


def test_a_rule_s_gateways_go_first_in_its_order_then_the_strategy_s() -> None:
    routing = table([rule("eur-large", match={"amount_min": 100_000}, gateways=["c", "b"])])

    decision = routing.decide(payment(amount=120_000))

    assert decision.rule == "eur-large"
    assert [view.gateway for view in decision.order] == ["c", "b", "a"]
    assert [view.share for view in decision.order] == [1.0, 0.0, 1.0]
    assert [decision.reason(i, []) for i in range(3)] == [
        "rule eur-large: its gateway 1 of 2, breaker closed",
        "rule eur-large: its gateway 2 of 2, breaker closed",
        "rule eur-large: fallback, priority 1 in config order, breaker closed",
    ]
    assert decision.reason(1, ["c unavailable"]) == (
        "rule eur-large: its gateway 2 of 2, breaker closed; failover after c unavailable"
    )


def test_no_rule_met_leaves_the_order_and_its_reasons_to_the_strategy() -> None:
    routing = table([rule("eur-large", match={"amount_min": 100_000}, gateways=["c"])])

    decision = routing.decide(payment(amount=99_999))

    assert decision.rule is None
    assert [view.gateway for view in decision.order] == ["a", "b", "c"]
    assert decision.reason(0, []) == "priority 1 in config order, breaker closed"
    assert all(view.by_rule is None for view in decision.order)


def test_a_rule_s_gateway_that_cannot_take_the_payment_is_skipped_as_any_other() -> None:
    routing = table(
        [rule("eur", gateways=["usd-only", "c", "b"])],
        gateways={"a": {"EUR"}, "b": {"EUR"}, "c": {"EUR"}, "usd-only": {"USD"}},
    )
    for _ in range(POLICY.minimum_calls):
        routing.breaker("c").record_failure()

    decision = routing.decide(payment(), unable={"b": "type x does not declare manual_capture"})

    assert [view.gateway for view in decision.order] == ["a"]
    assert [view.gateway for view in decision.skipped] == ["c"]
    assert [left.gateway for left in decision.left_out] == ["b"]
    assert decision.reason(0, []) == (
        "rule eur: fallback, priority 1 in config order, breaker closed"
    )


def test_the_first_of_a_rule_s_gateways_that_can_take_it_leads() -> None:
    routing = table([rule("eur", gateways=["c", "b"])])
    for _ in range(POLICY.minimum_calls):
        routing.breaker("c").record_failure()

    decision = routing.decide(payment())

    assert [(view.gateway, view.share) for view in decision.order] == [
        ("b", 1.0),
        ("a", 1.0),
    ]
    assert decision.reason(0, []) == "rule eur: its gateway 2 of 2, breaker closed"


def test_without_fallback_only_the_rule_s_gateways_are_tried_and_the_others_said_left_out() -> None:
    routing = table([rule("pinned", gateways=["c"], fallback=False)])

    decision = routing.decide(payment())

    assert [view.gateway for view in decision.order] == ["c"]
    assert [(left.gateway, left.reason) for left in decision.left_out] == [
        ("a", "rule pinned sends only to its own gateways (fallback = false)"),
        ("b", "rule pinned sends only to its own gateways (fallback = false)"),
    ]
    for _ in range(POLICY.minimum_calls):
        routing.breaker("c").record_failure()
    assert routing.decide(payment()).order == ()


def test_a_ten_percent_split_leads_a_tenth_of_the_payments() -> None:
    """Unseeded: a correct draw falls outside the bounds once in a million runs."""
    decisions = 2_000
    low, high = binomial_bounds(decisions, 0.10)
    routing = table(
        [rule("eur-split", split={"a": 10, "b": 90})],
        Strategy.WEIGHTED,
        rng=random.Random(),
    )

    first = Counter(order(routing)[0] for _ in range(decisions))

    assert low <= first["a"] <= high, (first, low, high)
    assert first["a"] + first["b"] == decisions  # c, in no split, never leads


def test_a_split_s_draw_leads_and_the_strategy_orders_the_others_after_it() -> None:
    routing = table([rule("eur-split", split={"a": 10, "b": 90})], Strategy.PRIORITY)

    decisions = [routing.decide(payment()) for _ in range(200)]

    for decision in decisions:
        drawn = decision.order[0]
        assert drawn.share == {"a": 0.1, "b": 0.9}[drawn.gateway]
        assert decision.reason(0, []) == (
            f"rule eur-split: drawn by its split ({round(drawn.share * 100)}%, share"
            f" {drawn.share:.2f}), breaker closed"
        )
        assert [view.gateway for view in decision.order[1:]] == [
            name for name in ("a", "b", "c") if name != drawn.gateway
        ]
        assert decision.reason(1, []) == (
            "rule eur-split: fallback, priority 1 in config order, breaker closed"
        )


def test_a_split_s_gateway_that_cannot_take_it_leaves_its_part_to_the_others() -> None:
    routing = table([rule("eur-split", split={"a": 10, "b": 30, "c": 60})])
    for _ in range(POLICY.minimum_calls):
        routing.breaker("c").record_failure()

    decision = routing.decide(payment())

    drawn = decision.order[0]
    assert drawn.share == pytest.approx({"a": 0.25, "b": 0.75}[drawn.gateway])
    for _ in range(POLICY.minimum_calls):
        routing.breaker("a").record_failure()
        routing.breaker("b").record_failure()
    nothing_left = routing.decide(payment())
    assert (nothing_left.rule, nothing_left.order) == ("eur-split", ())


def test_a_split_gateway_at_zero_percent_is_never_drawn_but_still_tried_after() -> None:
    routing = table([rule("ramp-down", split={"a": 0, "b": 100}, fallback=False)])

    assert {tuple(order(routing)) for _ in range(50)} == {("b", "a")}


@pytest.mark.parametrize("strategy", list(Strategy))
def test_rules_come_before_every_strategy(strategy: Strategy) -> None:
    board = ScoreBoard(ScorePolicy(exploration=0.0, prior_strength=0))
    # What the adaptive strategy learned would put c last.
    board.add(
        [
            Tally("a", Segment("EUR", 0), 99, 1, 0),
            Tally("b", Segment("EUR", 0), 90, 10, 0),
            Tally("c", Segment("EUR", 0), 10, 90, 0),
        ],
        at=1.0,
    )
    routing = table([rule("to-c", gateways=["c"])], strategy, scores=board)

    for _ in range(20):
        decision = routing.decide(payment())
        assert decision.order[0].gateway == "c"
        assert sorted(view.gateway for view in decision.order[1:]) == ["a", "b"]
        assert decision.reason(1, []).startswith("rule to-c: fallback, ")
    if strategy is Strategy.ADAPTIVE:
        assert decision.reason(1, []).startswith(
            "rule to-c: fallback, adaptive rank 1 (share 1.00; success 0.99"
        )


def test_a_rule_is_described_as_config_check_lists_it() -> None:
    assert rule(
        "big",
        match={
            "currencies": ["EUR", "USD"],
            "amount_min": 100,
            "amount_max": 500,
            "capture": "manual",
            "merchants": ["shop"],
            "metadata": {"network": ["visa", "mc"]},
        },
        gateways=["a", "b"],
    ).describe() == (
        "EUR, USD, 100 <= amount < 500, capture manual, merchant shop, metadata network = visa"
        " or mc -> a, b; then the strategy's order"
    )
    assert rule("s", split={"a": 10, "b": 90}, fallback=False).describe() == (
        "every payment -> split a 10%, b 90%; no other gateway"
    )


EUR_GATEWAYS = {
    "a": ConfiguredGateway(enabled=True, currencies=frozenset({"EUR"}), manual_capture=False),
    "b": ConfiguredGateway(enabled=True, currencies=frozenset({"EUR"}), manual_capture=True),
    "aed": ConfiguredGateway(enabled=True, currencies=frozenset({"AED"}), manual_capture=True),
    "off": ConfiguredGateway(enabled=False, currencies=frozenset(), manual_capture=False),
}


@pytest.mark.parametrize(
    ("rules", "warnings"),
    [
        ([rule("fine", match={"currencies": ["EUR"]}, gateways=["a"])], []),
        (
            [
                rule("eur", match={"currencies": ["EUR"]}, gateways=["a"]),
                rule("eur-visa", match={"currencies": ["EUR"], "amount_min": 5}, gateways=["b"]),
            ],
            ["rule eur-visa never matches: rule eur before it matches every payment it would"],
        ),
        (
            [
                rule("big", match={"amount_min": 100}, gateways=["a"]),
                rule("bigger", match={"amount_min": 50}, gateways=["b"]),
            ],
            [],
        ),
        (
            [rule("aed", match={"currencies": ["AED"]}, gateways=["a", "b"])],
            ["rule aed never sends a payment to its gateways: none of a, b takes AED"],
        ),
        (
            [rule("both", match={"currencies": ["AED", "EUR"]}, gateways=["a"], fallback=False)],
            ["rule both: none of a takes AED; such payments go nowhere (fallback = false)"],
        ),
        (
            [rule("manual", match={"capture": "manual"}, split={"a": 100, "b": 0})],
            [
                "rule manual never sends a payment to its gateways: none of a declares manual"
                " capture"
            ],
        ),
        (
            [rule("off", gateways=["off"])],
            [
                "rule off: off disabled (enabled = false): skipped",
                "rule off never sends a payment to its gateways: none is enabled",
            ],
        ),
        (
            [rule("shops", match={"merchants": ["shop", "gone"]}, gateways=["a"])],
            ["rule shops: merchant gone has no API keys here"],
        ),
        (
            [rule("gone", match={"merchants": ["gone"]}, gateways=["a"])],
            ["rule gone never matches: no merchant it names has API keys (gone)"],
        ),
    ],
)
def test_config_check_warns_of_a_rule_that_can_never_match_or_never_reach_its_gateways(
    rules: list[RoutingRule], warnings: list[str]
) -> None:
    assert rule_warnings(rules, EUR_GATEWAYS, merchants=["shop"]) == warnings


def test_a_rule_naming_merchants_never_matches_while_the_client_api_is_open() -> None:
    rules = [rule("shop", match={"merchants": ["shop"]}, gateways=["a"])]
    assert rule_warnings(rules, EUR_GATEWAYS, merchants=None) == [
        "rule shop never matches: the client API is open, so payments have no merchant"
    ]
